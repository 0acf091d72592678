"""Stored policies still exactly as the previous release shipped them take the new shipped definitions.

That release guessed figures its documents leave open (Jilin's 2019 bands as flat 0.60 / 0.65, Jiangxi's
income, floors taken as the figure) and paid any unlisted group as general. A definition someone edited
in the admin is theirs and is left alone: only a definition whose digest equals the old shipped file's
is replaced.
"""

import hashlib
import json
from pathlib import Path

from django.conf import settings
from django.db import migrations

PREVIOUS = {
    "jiangxi-2025": "9fab0549cff0706f51bdfa614b58f97dd22df4236dc2f1d3b1f281e61871a977",
    "jilin-2020": "7674528f14ae0b88f79a19b6fd23cb8b705ef6f041709fb5249e392b58bf0007",
    "shandong-2015": "e8d679891d3ffaa44944ff5351e82340b7de09cc275f18467cf14812f4402755",
    "shanxi-2019": "41885907308d93807fa23b56b12bc19077b6093e9672d33ba457d8bb65f6ab92",
    "xuzhou-2013-rural": "b2a6702d6b9c16820b42ee6ec68f7e6a22ba74f1347c678a56360c70cf48a0ff",
    "xuzhou-2013-urban": "95313e74cb6cd490d730d6b0e9555da262cd22474451e55313e62cce4df0cd70",
}


def digest(definition) -> str:
    return hashlib.sha256(json.dumps(definition, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def update(apps, schema_editor):
    BenefitPolicy = apps.get_model("claims", "BenefitPolicy")
    folder = Path(settings.BASE_DIR) / "data" / "policies"
    for code, old in PREVIOUS.items():
        path = folder / f"{code}.json"
        for stored in BenefitPolicy.objects.filter(code=code):
            if not path.exists() or digest(stored.definition) != old:
                continue
            data = json.loads(path.read_text(encoding="utf-8"))
            stored.definition = data
            stored.name = data.get("name", stored.name)
            stored.source = data.get("source", stored.source)
            stored.save(update_fields=["definition", "name", "source"])


class Migration(migrations.Migration):
    dependencies = [("claims", "0007_advance_materials_from_claims_batch")]
    operations = [migrations.RunPython(update, migrations.RunPython.noop)]
