"""Passwords for people who keep public money: long, and of several kinds of character."""

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _


class CharacterClassesValidator:
    """At least three of: lower-case letters, upper-case letters, digits, other characters (symbols, Chinese)."""

    def __init__(self, min_classes: int = 3):
        self.min_classes = min_classes

    def validate(self, password, user=None):
        classes = [any(c.islower() and c.isascii() for c in password), any(c.isupper() and c.isascii() for c in password),
                   any(c.isdigit() and c.isascii() for c in password), any(not (c.isascii() and c.isalnum())
                                                                             for c in password)]
        if sum(classes) < self.min_classes:
            raise ValidationError(self.get_help_text(), code="password_too_simple")

    def get_help_text(self):
        return _("The password needs at least %(n)s of: lower-case letters, upper-case letters, digits, other "
                 "characters (symbols or Chinese).") % {"n": self.min_classes}
