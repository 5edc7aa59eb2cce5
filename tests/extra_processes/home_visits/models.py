from django.db import models


class Visit(models.Model):
    instance_id = models.BigIntegerField(unique=True)
    kind = models.CharField(max_length=20)
    minutes = models.PositiveIntegerField()
