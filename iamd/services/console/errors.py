"""What the console shows when a step fails: a message for the page, never a stack trace."""

from __future__ import annotations


class ConsoleError(Exception):
    def __init__(self, message: str, *, status: int = 400, retry_after: float = 0.0) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.retry_after = retry_after


class ChallengeGone(ConsoleError):
    """No pending WebAuthn challenge (never asked for, already answered, or expired): nobody's wrong guess."""

    def __init__(self, message: str) -> None:
        super().__init__(message, status=400)


INCORRECT = "Your authentication information is incorrect. Please try again."
"""The one answer for an unknown account, an unknown user, a wrong password: nothing tells them apart."""

PASSWORD_EXPIRED = "Your password has expired. Ask your administrator to reset it."  # noqa: S105 - a message
WRONG_CODE = "The MFA code is not valid. Check the code and try again."
FIDO_FAILED = "The security key or passkey could not be verified. Try again."
STEP_EXPIRED = "Your sign-in took too long. Sign in again."


def too_many(seconds: float) -> ConsoleError:
    wait = max(1, int(seconds + 0.999))
    return ConsoleError(
        f"Too many failed attempts. Try again in {wait} second{'s' if wait != 1 else ''}.",
        status=429,
        retry_after=wait,
    )
