"""Errors of the alerting pipeline: one root, one line each."""

from __future__ import annotations


class AlertingError(Exception):
    """Root of every error the alerting pipeline raises on purpose."""


class InvalidDeadLetterError(AlertingError):
    """A dead letter chosen for re-drive does not hold a readable Alert."""


class AlertingConfigError(AlertingError):
    """A setting alerting needs is unusable; the message names the variable."""
