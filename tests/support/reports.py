"""Realistic bounce and complaint messages (RFC 3464 DSNs, an RFC 5965 ARF report, a vendor bounce)
as a receiving MTA would send them back to a VERP return path."""

from __future__ import annotations


def dsn(
    *,
    to: str,
    recipient: str,
    status: str = "5.1.1",
    action: str = "failed",
    diagnostic: str = "smtp; 550 5.1.1 <{r}>: Recipient address rejected: User unknown",
    message_id: str = "<orig@example.com>",
) -> bytes:
    """A Postfix-style delivery status notification quoting the original headers."""
    diag = diagnostic.format(r=recipient)
    return f"""Return-Path: <>\r
Received: from mx.example.net by bounce.sendhouse.test; Mon, 1 Dec 2026 10:00:00 +0000\r
Date: Mon, 1 Dec 2026 10:00:00 +0000\r
From: MAILER-DAEMON@mx.example.net (Mail Delivery System)\r
Subject: Undelivered Mail Returned to Sender\r
To: {to}\r
Auto-Submitted: auto-replied\r
MIME-Version: 1.0\r
Content-Type: multipart/report; report-type=delivery-status;\r
 boundary="B0UND.1"\r
Message-Id: <20261201100000.ABC@mx.example.net>\r
\r
This is a MIME-encapsulated message.\r
\r
--B0UND.1\r
Content-Description: Notification\r
Content-Type: text/plain; charset=us-ascii\r
\r
I'm sorry to have to inform you that your message could not\r
be delivered to one or more recipients.\r
\r
<{recipient}>: host mx.example.net said: {diag}\r
\r
--B0UND.1\r
Content-Description: Delivery report\r
Content-Type: message/delivery-status\r
\r
Reporting-MTA: dns; mx.example.net\r
X-Postfix-Queue-ID: ABC\r
Arrival-Date: Mon, 1 Dec 2026 09:59:58 +0000\r
\r
Final-Recipient: rfc822; {recipient}\r
Original-Recipient: rfc822;{recipient}\r
Action: {action}\r
Status: {status}\r
Remote-MTA: dns; mx.example.net\r
Diagnostic-Code: {diag}\r
\r
--B0UND.1\r
Content-Description: Undelivered Message Headers\r
Content-Type: text/rfc822-headers\r
\r
From: news@example.com\r
To: {recipient}\r
Subject: Hello\r
Message-ID: {message_id}\r
\r
--B0UND.1--\r
""".encode()


def arf(
    *, to: str, recipient: str, feedback_type: str = "abuse", message_id: str = "<orig@example.com>"
) -> bytes:
    """An ARF (RFC 5965) complaint report as a mailbox provider's feedback loop sends it."""
    return f"""From: <staff@hotmail.example>\r
Date: Mon, 1 Dec 2026 11:00:00 +0000\r
Subject: FW: Hello\r
To: {to}\r
MIME-Version: 1.0\r
Content-Type: multipart/report; report-type=feedback-report;\r
 boundary="part1_13d.2e68ed54_boundary"\r
\r
--part1_13d.2e68ed54_boundary\r
Content-Type: text/plain; charset="US-ASCII"\r
Content-Transfer-Encoding: 7bit\r
\r
This is an email abuse report for an email message received from IP\r
192.0.2.1 on Mon, 1 Dec 2026 10:59:00 +0000.\r
\r
--part1_13d.2e68ed54_boundary\r
Content-Type: message/feedback-report\r
\r
Feedback-Type: {feedback_type}\r
User-Agent: SomeGenerator/1.0\r
Version: 1\r
Original-Mail-From: <bounces+abc@sendhouse.test>\r
Original-Rcpt-To: <{recipient}>\r
Arrival-Date: Mon, 1 Dec 2026 10:59:00 +0000\r
Reporting-MTA: dns; mail.hotmail.example\r
Source-IP: 192.0.2.1\r
\r
--part1_13d.2e68ed54_boundary\r
Content-Type: message/rfc822\r
Content-Disposition: inline\r
\r
From: <news@example.com>\r
Received: from mailserver.example.net (mailserver.example.net [192.0.2.1])\r
 by example.com with ESMTP id M63d4137594e46;\r
 Mon, 1 Dec 2026 10:59:00 +0000\r
To: <{recipient}>\r
Subject: Hello\r
MIME-Version: 1.0\r
Content-type: text/plain\r
Message-ID: {message_id}\r
Date: Mon, 1 Dec 2026 10:58:00 +0000\r
\r
Buy now!\r
\r
--part1_13d.2e68ed54_boundary--\r
""".encode()


def vendor_bounce(*, to: str, recipient: str) -> bytes:
    """A qmail-style bounce (no multipart/report): flufl.bounce recognises the format."""
    return f"""Return-Path: <>\r
From: MAILER-DAEMON@mail.example.org\r
To: {to}\r
Subject: failure notice\r
Date: Mon, 1 Dec 2026 12:00:00 +0000\r
\r
Hi. This is the qmail-send program at mail.example.org.\r
I'm afraid I wasn't able to deliver your message to the following addresses.\r
This is a permanent error; I've given up. Sorry it didn't work out.\r
\r
<{recipient}>:\r
192.0.2.7 does not like recipient.\r
Remote host said: 550 5.1.1 <{recipient}>... User unknown\r
Giving up on 192.0.2.7.\r
\r
--- Below this line is a copy of the message.\r
\r
Return-Path: <bounces+abc@sendhouse.test>\r
From: news@example.com\r
To: {recipient}\r
Subject: Hello\r
\r
Hello\r
""".encode()
