from django.contrib import admin

from engine.station import StaffProfile, Village


@admin.register(Village)
class VillageAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "position")


@admin.register(StaffProfile)
class StaffProfileAdmin(admin.ModelAdmin):
    list_display = ("user", "township_wide", "language")
    filter_horizontal = ("villages",)
