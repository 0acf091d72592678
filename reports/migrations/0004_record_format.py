from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("reports", "0003_job_parts")]

    operations = [
        migrations.AddField(
            model_name="reportrecord",
            name="format",
            field=models.CharField(choices=[("pdf", "PDF"), ("xlsx", "XLSX")], default="pdf", max_length=4,
                                   verbose_name="format"),
        ),
        migrations.AlterField(
            model_name="reportrecord",
            name="pdf_sha256",
            field=models.CharField(max_length=64, verbose_name="digest of the issued file"),
        ),
    ]
