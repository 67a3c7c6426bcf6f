"""The sign-in email in the customer's language (en, ru, uk, da; English otherwise)."""

from __future__ import annotations

SIGN_IN_EMAIL: dict[str, dict[str, str]] = {
    "en": {
        "subject": "Your sign-in code for {business}: {code}",
        "body": "Hello{name},\n\nYour code is {code}. It is valid for {minutes} minutes.\n"
                "Or open this link to sign in directly:\n{link}\n\n"
                "If you did not ask to sign in, you can ignore this email.\n\n{business}",
    },
    "ru": {
        "subject": "Код для входа в {business}: {code}",
        "body": "Здравствуйте{name}!\n\nВаш код: {code}. Он действует {minutes} минут.\n"
                "Или откройте ссылку, чтобы войти сразу:\n{link}\n\n"
                "Если вы не запрашивали вход, просто проигнорируйте это письмо.\n\n{business}",
    },
    "uk": {
        "subject": "Код для входу в {business}: {code}",
        "body": "Вітаємо{name}!\n\nВаш код: {code}. Він дійсний {minutes} хвилин.\n"
                "Або відкрийте посилання, щоб увійти одразу:\n{link}\n\n"
                "Якщо ви не запитували вхід, просто проігноруйте цей лист.\n\n{business}",
    },
    "da": {
        "subject": "Din login-kode til {business}: {code}",
        "body": "Hej{name}\n\nDin kode er {code}. Den gælder i {minutes} minutter.\n"
                "Eller åbn dette link for at logge ind med det samme:\n{link}\n\n"
                "Har du ikke bedt om at logge ind, kan du se bort fra denne e-mail.\n\n{business}",
    },
}


def language_of(locale: str | None) -> str:
    """'da-DK' -> 'da'; unknown or missing -> 'en'."""
    lang = (locale or "en").split("-")[0].split("_")[0].lower()
    return lang if lang in SIGN_IN_EMAIL else "en"
