"""The people of the demo books: for each fund and insurer, an accountant who prepares (制单) and a
reviewer who approves (审核), each with a name, a role and a scope, so every demo voucher names two
different people. They cannot sign in (no usable password) until an administrator gives them one.
"""

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from accounts.models import Insurer, Region

from .models import Scope
from .roles import ROLES
from .services import roles_sync


@dataclass(frozen=True)
class DemoPerson:
    username: str
    family: str
    given: str
    role: str
    regions: tuple = ()
    insurers: tuple = ()


# Keyed by (side, region or insurer code) → (accountant, reviewer).
PEOPLE = {
    ("fund", "37"): (DemoPerson("sd-wangli", "王", "丽", "fund_accountant", regions=("37",)),
                     DemoPerson("sd-zhaoqiang", "赵", "强", "reviewer", regions=("37",))),
    ("fund", "1405"): (DemoPerson("jc-limin", "李", "敏", "fund_accountant", regions=("1405",)),
                       DemoPerson("jc-zhangwei", "张", "伟", "reviewer", regions=("1405",))),
    ("fund", "22"): (DemoPerson("jl-wufang", "吴", "芳", "fund_accountant", regions=("22",)),
                     DemoPerson("jl-zhenghao", "郑", "浩", "reviewer", regions=("22",))),
    ("fund", "3601"): (DemoPerson("nc-huanglei", "黄", "蕾", "fund_accountant", regions=("3601",)),
                       DemoPerson("nc-xiaojian", "肖", "剑", "reviewer", regions=("3601",))),
    ("fund", "3203"): (DemoPerson("xz-songjia", "宋", "佳", "fund_accountant", regions=("3203",)),
                       DemoPerson("xz-tangning", "唐", "宁", "reviewer", regions=("3203",))),
    ("insurer", "PICC-3601"): (DemoPerson("picc3601-luobin", "罗", "斌", "insurer_accountant",
                                          insurers=("PICC-3601",)),
                               DemoPerson("picc3601-gaoyan", "高", "燕", "reviewer", insurers=("PICC-3601",))),
    ("insurer", "CLIC-3203"): (DemoPerson("clic3203-liangfei", "梁", "飞", "insurer_accountant",
                                          insurers=("CLIC-3203",)),
                               DemoPerson("clic3203-xiekai", "谢", "凯", "reviewer", insurers=("CLIC-3203",))),
    ("insurer", "PICC-37"): (DemoPerson("picc37-chenjing", "陈", "静", "insurer_accountant", insurers=("PICC-37",)),
                             DemoPerson("picc37-sunlei", "孙", "磊", "reviewer", insurers=("PICC-37",))),
    ("insurer", "CLIC-37"): (DemoPerson("clic37-jiangnan", "姜", "楠", "insurer_accountant", insurers=("CLIC-37",)),
                             DemoPerson("clic37-qinfeng", "秦", "峰", "reviewer", insurers=("CLIC-37",))),
    ("insurer", "CLIC-1405"): (DemoPerson("clic1405-liuyang", "刘", "洋", "insurer_accountant",
                                          insurers=("CLIC-1405",)),
                               DemoPerson("clic1405-zhouting", "周", "婷", "reviewer", insurers=("CLIC-1405",))),
    ("insurer", "INS-PICC"): (DemoPerson("piccjl-machao", "马", "超", "insurer_accountant", insurers=("INS-PICC",)),
                              DemoPerson("piccjl-hujun", "胡", "军", "reviewer", insurers=("INS-PICC",))),
    ("insurer", "INS-CLIC"): (DemoPerson("clicjl-linxue", "林", "雪", "insurer_accountant", insurers=("INS-CLIC",)),
                              DemoPerson("clicjl-heyong", "何", "勇", "reviewer", insurers=("INS-CLIC",))),
}


# 会计主管 of each demo side's books: printed on every voucher posted while in office (Book.supervisor).
SUPERVISORS = {
    ("fund", "37"): DemoPerson("sd-sunhong", "孙", "红", "reviewer", regions=("37",)),
    ("fund", "1405"): DemoPerson("jc-yangfan", "杨", "帆", "reviewer", regions=("1405",)),
    ("fund", "22"): DemoPerson("jl-hanmei", "韩", "梅", "reviewer", regions=("22",)),
    ("insurer", "PICC-37"): DemoPerson("picc37-fengtao", "冯", "涛", "reviewer", insurers=("PICC-37",)),
    ("insurer", "CLIC-37"): DemoPerson("clic37-yuhui", "于", "慧", "reviewer", insurers=("CLIC-37",)),
    ("insurer", "CLIC-1405"): DemoPerson("clic1405-guojing", "郭", "靖", "reviewer", insurers=("CLIC-1405",)),
    ("insurer", "INS-PICC"): DemoPerson("piccjl-dengyu", "邓", "宇", "reviewer", insurers=("INS-PICC",)),
    ("insurer", "INS-CLIC"): DemoPerson("clicjl-caili", "蔡", "丽", "reviewer", insurers=("INS-CLIC",)),
}


def demo_supervisors_set() -> None:
    """Give every demo book that has none its side's 会计主管."""
    from accounts.models import Book

    for book in Book.objects.filter(supervisor__isnull=True).select_related("fund__region", "insurer"):
        key = (("fund", book.fund.region.code.split("-")[0]) if book.kind == Book.Kind.FUND
               else ("insurer", book.insurer.code))
        if key in SUPERVISORS:
            Book.objects.filter(pk=book.pk).update(supervisor=demo_person(SUPERVISORS[key]))


@transaction.atomic
def demo_person(p: DemoPerson):
    """The person's user, with their name, role and scope; the same user again on a second run."""
    User = get_user_model()
    user, created = User.objects.get_or_create(
        username=p.username, defaults={"last_name": p.family, "first_name": p.given, "is_staff": True})
    if created:
        user.set_unusable_password()
        user.save()
        roles_sync()
        user.groups.add(Group.objects.get(name=ROLES[p.role].group))
        scope = Scope.objects.create(user=user)
        scope.regions.set(Region.objects.filter(code__in=p.regions))
        scope.insurers.set(Insurer.objects.filter(code__in=p.insurers))
    return user


def demo_pair(side: str, code: str):
    """(accountant, reviewer) of a fund's region or an insurer, as users."""
    accountant, reviewer = PEOPLE[(side, code)]
    return demo_person(accountant), demo_person(reviewer)


def demo_people_of(contract) -> dict:
    """The contract's people: {"fund": (accountant, reviewer), "insurer": (accountant, reviewer)}; a fund is
    found by its region's code, or the province's for regions below a city (Jilin's districts, 22-…)."""
    region = contract.fund.region
    code = region.code if ("fund", region.code) in PEOPLE else region.code.split("-")[0]
    return {"fund": demo_pair("fund", code), "insurer": demo_pair("insurer", contract.insurer.code)}
