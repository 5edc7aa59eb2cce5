"""How Caseflow talks to the outside: notifications, SMS, partner offices. Backends are chosen by a
settings string (CASEFLOW_NOTIFIER_BACKEND), like Django's EMAIL_BACKEND; processes decide *what* to
send by queueing outbox messages, integrations decide *how* it leaves."""
