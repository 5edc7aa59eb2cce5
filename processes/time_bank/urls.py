from django.urls import path

from . import views, volunteer_views

urlpatterns = [
    path("time-bank/", views.home, name="time-bank"),
    path("time-bank/members/new/", views.register, name="time-bank-register"),
    path("time-bank/members/<int:member_id>/", views.passbook, name="time-bank-member"),
    path("time-bank/members/<int:member_id>/print/", views.passbook_print, name="time-bank-print"),
    path("time-bank/members/<int:member_id>/decide/", views.decide, name="time-bank-decide"),
    path("time-bank/members/<int:member_id>/relatives/", views.add_relative, name="time-bank-relative"),
    path("time-bank/members/<int:member_id>/transfer/", views.transfer, name="time-bank-transfer"),
    path("time-bank/members/<int:member_id>/donate/", views.donate, name="time-bank-donate"),
    path("time-bank/members/<int:member_id>/expire/", views.expire, name="time-bank-expire"),
    path("time-bank/members/<int:member_id>/login/", volunteer_views.issue_login, name="time-bank-login"),
    path("time-bank/members/<int:member_id>/status/", volunteer_views.change_status, name="time-bank-status"),
    path("time-bank/me/", volunteer_views.mine, name="time-bank-mine"),
    path("time-bank/me/print/", volunteer_views.mine_print, name="time-bank-mine-print"),
    path("time-bank/me/services/<int:number>/sign-in/", volunteer_views.mine_sign_in, name="time-bank-mine-sign-in"),
    path("time-bank/me/services/<int:number>/sign-out/", volunteer_views.mine_sign_out, name="time-bank-mine-sign-out"),
    path("time-bank/me/services/<int:number>/undo/", volunteer_views.mine_undo_sign_in, name="time-bank-mine-undo"),
    path("time-bank/me/password/", volunteer_views.mine_password, name="time-bank-mine-password"),
    path("time-bank/ledger/", views.ledger_page, name="time-bank-ledger"),
    path("time-bank/ledger/<int:entry_id>/reverse/", views.reverse_entry, name="time-bank-reverse"),
    path("time-bank/anomalies/", views.anomalies, name="time-bank-anomalies"),
]
