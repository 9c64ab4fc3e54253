"""The SMTP password never crosses the wire in cleartext unless the operator says the path is trusted."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from failstream.alerting.exceptions import AlertingConfigError
from failstream.alerting.smtp import EmailNotifier
from failstream.settings import Settings

LOGIN = {"smtp_user": "alerting", "smtp_password": SecretStr("s3cret"), "smtp_tls": "none"}


def test_a_login_over_a_cleartext_connection_is_refused_at_start() -> None:
    # model_copy skips the settings validator: the notifier checks again
    with pytest.raises(AlertingConfigError, match="FAILSTREAM_SMTP_ALLOW_CLEARTEXT_LOGIN"):
        EmailNotifier(Settings().model_copy(update=LOGIN))


def test_a_cleartext_login_is_allowed_when_the_operator_says_the_path_is_trusted() -> None:
    EmailNotifier(Settings().model_copy(update={**LOGIN, "smtp_allow_cleartext_login": True}))


def test_no_login_over_a_cleartext_connection_is_fine() -> None:
    EmailNotifier(Settings().model_copy(update={"smtp_tls": "none", "smtp_user": ""}))
