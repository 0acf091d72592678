from django.contrib import admin
from django.urls import path
from django.utils.translation import gettext_lazy as _
from django.views.generic import RedirectView

admin.site.site_header = _("Critical-illness insurance fund ledger")
admin.site.site_title = _("Critical-illness insurance fund ledger")
admin.site.index_title = _("Books, premiums and settlements")
admin.site.index_template = "admin/ledger_index.html"  # what awaits the signed-in person's review, first

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
]

# Every 403 is recorded in the audit trail and answered with a page in Chinese.
handler403 = "access.views.permission_denied"
