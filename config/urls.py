from django.contrib import admin
from django.urls import path
from django.utils.translation import gettext_lazy as _
from django.views.generic import RedirectView

admin.site.site_header = _("Critical-illness insurance fund ledger")
admin.site.site_title = _("Critical-illness insurance fund ledger")
admin.site.index_title = _("Books, premiums and settlements")

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
]
