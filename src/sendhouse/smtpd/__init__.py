"""Sendhouse's SMTP servers, the front doors over SMTP as api/ is over HTTP: the inbound receiver
(inbound.py: bounces, complaints, List-Unsubscribe mail and the inbox) and the submission server
for apps (submission.py), both on aiosmtpd with per-client limits (smtp_guard.py). They hand what
they accept to services/; delivery/ holds the transports that send mail out."""
