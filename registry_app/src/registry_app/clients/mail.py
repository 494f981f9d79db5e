"""Mail for notifications through SMTP (smtplib), with Quay's ``MAIL_*`` settings: STARTTLS when
``use_tls`` (verified against the system's CAs plus the bundle's ``extra_ca_certs``), login when a
username is set, bounded timeouts. Errors never carry the password."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage

from registry_app.clients.webhook import DeliveryError
from registry_app.settings.notifications import MailSettings


def send_mail(
    settings: MailSettings, recipients: list[str], subject: str, html: str, context: ssl.SSLContext | None = None
) -> None:
    """Send one HTML message; raises DeliveryError."""
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = settings.sender
    msg["To"] = ", ".join(recipients)
    msg.set_content(html, subtype="html")
    try:
        with smtplib.SMTP(settings.server, settings.port, timeout=settings.timeout_s) as smtp:
            if settings.use_tls:
                smtp.starttls(context=context or ssl.create_default_context())
            if settings.username:
                smtp.login(settings.username, settings.password or "")
            smtp.send_message(msg, from_addr=settings.sender, to_addrs=recipients)
    except smtplib.SMTPAuthenticationError as exc:
        raise DeliveryError(f"SMTP login to {settings.server}:{settings.port} refused ({exc.smtp_code})") from None
    except smtplib.SMTPResponseException as exc:
        raise DeliveryError(f"SMTP {settings.server}:{settings.port} answered {exc.smtp_code}") from None
    except (smtplib.SMTPException, OSError) as exc:
        where = f"{settings.server}:{settings.port}"
        raise DeliveryError(f"cannot send mail through {where}: {type(exc).__name__}") from None
