"""List exports from the admin: the rows of a changelist as the user filtered and searched it, within their
scope, as an XLSX workbook (django-import-export's ExportMixin with our own XLSX format).

- Which rows: import-export rebuilds the changelist's queryset from the request (filters, search, date
  hierarchy), and that queryset starts from the admin's get_queryset, which access.admin_scope narrows to
  the user's scope. Rows picked by id (a forged `export_items`) are only ever looked up inside it.
- Who may: the model's view permission, on top of whatever import-export checks (narrowing, never widening).
- Money: a FenField is Money; import-export would write it as an empty cell. `Yuan` renders its amount,
  a Decimal with two places, and the XLSX format writes it as a number formatted #,##0.00.
- Text: every text cell goes through core.xlsx.safe_text (`=cmd|' /C calc'!A0` stays text).
- Every export is an audit event: who, which model, how many rows, with which filter.
"""

import io
from decimal import Decimal

from django.utils import timezone
from import_export import fields, resources, widgets
from import_export.admin import ExportMixin
from import_export.formats.base_formats import XLSX
from import_export.forms import SelectableFieldsExportForm
from openpyxl import Workbook
from openpyxl.utils import get_column_letter

from .xlsx import BOLD, CENTER, HEAD_FILL, print_setup, put

FEN = Decimal("0.01")


class Yuan(widgets.Widget):
    """Money (or a Decimal) as yuan with two decimals: a number, never text, never an empty cell."""

    def clean(self, value, row=None, **kwargs):  # exports only
        raise NotImplementedError

    def render(self, value, obj=None, **kwargs):
        if value is None or value == "":
            return None
        amount = value.amount if hasattr(value, "amount") else Decimal(str(value))
        return Decimal(amount).quantize(FEN)


class Text(widgets.Widget):
    """Any value as text (display values, labels)."""

    def render(self, value, obj=None, **kwargs):
        return "" if value is None else str(value)


def money(attribute: str, heading: str) -> fields.Field:
    return fields.Field(attribute=attribute, column_name=heading, widget=Yuan(), readonly=True)


def text(attribute: str, heading: str) -> fields.Field:
    return fields.Field(attribute=attribute, column_name=heading, widget=Text(), readonly=True)


def date(attribute: str, heading: str) -> fields.Field:
    return fields.Field(attribute=attribute, column_name=heading, widget=widgets.DateWidget(), readonly=True)


def number(attribute: str, heading: str) -> fields.Field:
    return fields.Field(attribute=attribute, column_name=heading, widget=widgets.IntegerWidget(), readonly=True)


class ExportResource(resources.ModelResource):
    """A resource that declares its columns (Chinese headings) and exports only those."""

    class Meta:
        fields = ()


class SafeXLSX(XLSX):
    """XLSX written by core.xlsx: numbers as numbers, text as text (never a formula), the heading row bold,
    frozen and repeated on every printed page, A4 landscape fitted to the width."""

    def get_title(self):
        return "XLSX"

    def export_data(self, dataset, **kwargs):
        wb = Workbook()
        ws = wb.active
        ws.title = "".join(ch for ch in (dataset.title or "导出") if ch not in "[]:*?/\\")[:31] or "导出"
        headers = list(dataset.headers or [])
        for col, head in enumerate(headers, 1):
            c = ws.cell(1, col)
            put(c, head)
            c.font, c.fill, c.alignment = BOLD, HEAD_FILL, CENTER
        longest = [len(str(h)) * 2 for h in headers]
        for r, row in enumerate(dataset, 2):
            for col, value in enumerate(row, 1):
                put(ws.cell(r, col), value)
                if col <= len(longest):
                    shown = len(f"{value:,.2f}") if isinstance(value, Decimal) else len(str(value or ""))
                    longest[col - 1] = max(longest[col - 1], min(shown * 2 if isinstance(value, str) else shown, 60))
        for col, width in enumerate(longest, 1):
            ws.column_dimensions[get_column_letter(col)].width = max(8, width + 2)
        ws.freeze_panes = "A2"
        if headers:
            ws.auto_filter.ref = f"A1:{get_column_letter(len(headers))}{max(1, dataset.height + 1)}"
        print_setup(ws, landscape=True, header_rows="1:1", left=ws.title,
                    footer_left=getattr(dataset, "footer", "") or "")
        out = io.BytesIO()
        wb.save(out)
        return out.getvalue()


class ColumnsForm(SelectableFieldsExportForm):
    """The export page's column check-boxes named by their headings alone (import-export prefixes the
    attribute's English name)."""

    def _get_field_label(self, resource, field_name: str) -> str:
        field = resource.fields.get(field_name)
        return str(field.column_name) if field is not None and field.column_name else field_name


class ListExport(ExportMixin):
    """Mixed into an app's ModelAdmin (before admin.ModelAdmin): an 导出 button on its changelist."""

    export_formats = [SafeXLSX]
    export_form_class = ColumnsForm

    def has_export_permission(self, request):
        return super().has_export_permission(request) and self.has_view_permission(request)

    def get_valid_export_item_pks(self, request):
        # Rows chosen by id are looked up in the user's scope only (import-export's default: the whole table).
        return list(self.get_queryset(request).values_list("pk", flat=True))

    def get_data_for_export(self, request, queryset, **kwargs):
        from audit.services import audit_record

        dataset = super().get_data_for_export(request, queryset, **kwargs)
        dataset.title = str(self.model._meta.verbose_name_plural)
        at = timezone.localtime()
        dataset.footer = f"导出：{request.user.get_username()} {at:%Y-%m-%d %H:%M}，{dataset.height} 行"
        audit_record(action="list_exported", actor=request.user, request=request,
                     detail={"model": self.model._meta.label_lower, "rows": dataset.height,
                             "query": request.GET.urlencode()[:500], "format": "xlsx"})
        return dataset

    def get_export_filename(self, request, queryset, file_format):
        return f"{self.model._meta.model_name}-{timezone.localtime():%Y%m%d-%H%M}.{file_format.get_extension()}"
