"""Bank statement uploads with a preview: the admin pages (built on the staging in `imports`)."""


def urls(model_admin) -> list:
    # 银行对账单 › 上传对账单: the target, the file, a preview of every line problem and the totals, then 确认导入.
    from imports.admin_views import upload_urls

    return upload_urls(model_admin, "bank")
