"""The admin pages of the packages we install (django-axes, django-celery-beat) in the user's language.

django-axes ships no Chinese; django-celery-beat leaves some of its field names unmarked for translation
and describes a crontab in English. At start-up their app, model and field names and help texts are
marked for translation — the project's catalogue holds the Chinese (core.vendor_msgids) — and crontabs
are described in the active language (cron-descriptor has a Chinese locale).
"""

import calendar

from django.apps import apps
from django.utils.functional import Promise
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

VENDOR_APPS = ("axes", "django_celery_beat")


def _marked(text):
    return text if not text or isinstance(text, Promise) else _(text)


def vendor_strings_mark() -> None:
    for label in VENDOR_APPS:
        if not apps.is_installed(label):
            continue
        config = apps.get_app_config(label)
        config.verbose_name = _marked(config.verbose_name)
        for model in config.get_models():
            opts = model._meta
            opts.verbose_name = _marked(opts.verbose_name)
            opts.verbose_name_plural = _marked(opts.verbose_name_plural)
            for f in opts.get_fields():
                if hasattr(f, "verbose_name"):
                    f.verbose_name = _marked(f.verbose_name)
                if getattr(f, "help_text", None):
                    f.help_text = _marked(f.help_text)
    if apps.is_installed("django_celery_beat"):
        import django_celery_beat.models as beat

        plain = beat.get_description

        def described(expression, options=None):
            from cron_descriptor import Options

            options = options or Options()
            options.use_24hour_time_format = True
            if not (get_language() or "").startswith("zh"):
                return plain(expression, options)
            options.locale_code = "zh_CN"
            text = plain(expression, options)
            # Its Chinese locale leaves month and day names in English.
            for n in range(1, 13):
                text = text.replace(calendar.month_name[n], f"{n}月")
            for n, day in enumerate(("一", "二", "三", "四", "五", "六", "日")):
                text = text.replace(calendar.day_name[n], f"星期{day}")
            return text

        beat.get_description = described
    vendor_labels_mark()


def vendor_labels_mark() -> None:
    """Columns and descriptions the packages name after a method or write in English."""
    from django.utils.timezone import localtime
    from django.utils.translation import gettext

    if apps.is_installed("django_celery_beat"):
        from django_celery_beat import admin as beat_admin
        from django_celery_beat.models import CrontabSchedule, PeriodicTask

        PeriodicTask.scheduler.fget.short_description = _("schedule")
        CrontabSchedule.human_readable.fget.short_description = _("in words")
        beat_admin.PeriodicTaskAdmin.crontab_translation.short_description = _("in words")
    if apps.is_installed("axes"):
        from axes.models import AccessAttempt, AccessFailureLog, AccessLog

        AccessAttempt.__str__ = lambda self: gettext("sign-in attempts of %(user)s") % {"user": self.username}
        AccessLog.__str__ = lambda self: gettext("sign-in of %(user)s at %(at)s") % {
            "user": self.username, "at": f"{localtime(self.attempt_time):%Y-%m-%d %H:%M:%S}"}
        AccessFailureLog.__str__ = lambda self: gettext("failed sign-in of %(user)s at %(at)s") % {
            "user": self.username, "at": f"{localtime(self.attempt_time):%Y-%m-%d %H:%M:%S}"}
