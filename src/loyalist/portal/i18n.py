# ruff: noqa: E501 - phrases are data; breaking them mid-sentence would hurt review in four languages
"""The portal's words in English, Russian, Ukrainian and Danish.

Why a table in code rather than gettext catalogues: the portal has a few dozen phrases, the team
reads all four languages in review, and a missing key fails a test (every language must define
every key) instead of silently showing English.
"""

from __future__ import annotations

LANGUAGES = ("en", "ru", "uk", "da")

_T: dict[str, tuple[str, str, str, str]] = {
    # key: (en, ru, uk, da)
    "portal": ("My loyalty account", "Мой бонусный счёт", "Мій бонусний рахунок", "Min bonuskonto"),
    "sign_in": ("Sign in", "Войти", "Увійти", "Log ind"),
    "sign_out": ("Sign out", "Выйти", "Вийти", "Log ud"),
    "email": ("Email", "Электронная почта", "Електронна пошта", "E-mail"),
    "send_code": ("Email me a sign-in code", "Прислать код для входа", "Надіслати код для входу",
                  "Send mig en login-kode"),
    "code_sent": ("If this email belongs to a member, we have sent a six-digit code and a sign-in link to it.",
                  "Если этот адрес принадлежит участнику программы, мы отправили на него шестизначный код и ссылку для входа.",
                  "Якщо ця адреса належить учаснику програми, ми надіслали на неї шестизначний код і посилання для входу.",
                  "Hvis e-mailen tilhører et medlem, har vi sendt en sekscifret kode og et login-link til den."),
    "code": ("Code from the email", "Код из письма", "Код з листа", "Kode fra e-mailen"),
    "continue": ("Continue", "Продолжить", "Продовжити", "Fortsæt"),
    "wrong_code": ("That code is not right. Attempts left: {n}.", "Код неверный. Осталось попыток: {n}.",
                   "Код неправильний. Залишилося спроб: {n}.", "Koden er forkert. Forsøg tilbage: {n}."),
    "expired": ("That code has expired. Ask for a new one.", "Срок действия кода истёк. Запросите новый.",
                "Термін дії коду минув. Запросіть новий.", "Koden er udløbet. Bed om en ny."),
    "locked": ("Too many wrong codes. Ask for a new one.", "Слишком много неверных попыток. Запросите новый код.",
               "Забагато неправильних спроб. Запросіть новий код.", "For mange forkerte forsøg. Bed om en ny kode."),
    "used": ("That code was already used. Ask for a new one.", "Этот код уже использован. Запросите новый.",
             "Цей код уже використано. Запросіть новий.", "Koden er allerede brugt. Bed om en ny."),
    "link_invalid": ("This sign-in link is not valid any more. Ask for a new code.",
                     "Эта ссылка для входа больше не действует. Запросите новый код.",
                     "Це посилання для входу більше не дійсне. Запросіть новий код.",
                     "Dette login-link er ikke længere gyldigt. Bed om en ny kode."),
    "home": ("Overview", "Обзор", "Огляд", "Oversigt"),
    "balance": ("Points you can use", "Баллы, которые можно потратить", "Бали, які можна витратити",
                "Point du kan bruge"),
    "pending": ("Points on their way (not yet available)", "Баллы в ожидании (пока недоступны)",
                "Бали в очікуванні (ще недоступні)", "Point på vej (endnu ikke tilgængelige)"),
    "points": ("points", "баллов", "балів", "point"),
    "expiring": ("Expiring soon", "Скоро сгорят", "Скоро згорять", "Udløber snart"),
    "expires_on": ("expire on {date}", "сгорят {date}", "згорять {date}", "udløber {date}"),
    "no_expiry": ("Nothing expires soon.", "В ближайшее время ничего не сгорает.",
                  "Найближчим часом нічого не згорає.", "Intet udløber snart."),
    "tier": ("Your level", "Ваш уровень", "Ваш рівень", "Dit niveau"),
    "no_tier": ("No level yet", "Уровня пока нет", "Рівня поки немає", "Intet niveau endnu"),
    "to_next": ("{n} more to reach {tier}", "Ещё {n} до уровня {tier}", "Ще {n} до рівня {tier}",
                "{n} mere for at nå {tier}"),
    "history": ("Points history", "История баллов", "Історія балів", "Pointhistorik"),
    "when": ("When", "Когда", "Коли", "Hvornår"),
    "why": ("Why", "За что", "За що", "Hvorfor"),
    "change": ("Change", "Изменение", "Зміна", "Ændring"),
    "lots": ("Your points and when they expire", "Ваши баллы и когда они сгорают",
             "Ваші бали та коли вони згорають", "Dine point og hvornår de udløber"),
    "available_from": ("Available from", "Доступны с", "Доступні з", "Tilgængelige fra"),
    "expires": ("Expires", "Сгорают", "Згорають", "Udløber"),
    "never": ("never", "никогда", "ніколи", "aldrig"),
    "remaining": ("Remaining", "Осталось", "Залишилось", "Tilbage"),
    "rewards": ("Rewards", "Награды", "Нагороди", "Belønninger"),
    "redeem": ("Redeem", "Получить", "Отримати", "Indløs"),
    "cost": ("{n} points", "{n} баллов", "{n} балів", "{n} point"),
    "redeemed": ("Done! Your voucher code is {code}.", "Готово! Код вашего ваучера: {code}.",
                 "Готово! Код вашого ваучера: {code}.", "Færdig! Din voucherkode er {code}."),
    "vouchers": ("Vouchers", "Ваучеры", "Ваучери", "Vouchers"),
    "voucher_code": ("Code", "Код", "Код", "Kode"),
    "status": ("Status", "Статус", "Статус", "Status"),
    "valid_until": ("Valid until", "Действует до", "Дійсний до", "Gyldig til"),
    "none_yet": ("Nothing here yet.", "Здесь пока ничего нет.", "Тут поки нічого немає.", "Intet her endnu."),
    "profile": ("Profile", "Профиль", "Профіль", "Profil"),
    "first_name": ("First name", "Имя", "Ім'я", "Fornavn"),
    "last_name": ("Last name", "Фамилия", "Прізвище", "Efternavn"),
    "phone": ("Phone", "Телефон", "Телефон", "Telefon"),
    "birthday": ("Birthday", "День рождения", "День народження", "Fødselsdag"),
    "language": ("Language", "Язык", "Мова", "Sprog"),
    "preferred_channel": ("How we should contact you", "Как с вами связываться", "Як з вами зв'язуватися",
                          "Hvordan vi skal kontakte dig"),
    "values": ("What matters to you", "Что для вас важно", "Що для вас важливо", "Hvad betyder noget for dig"),
    "address": ("Address", "Адрес", "Адреса", "Adresse"),
    "street": ("Street and number", "Улица и дом", "Вулиця і будинок", "Gade og nummer"),
    "city": ("City", "Город", "Місто", "By"),
    "postal_code": ("Postal code", "Индекс", "Індекс", "Postnummer"),
    "country": ("Country (two letters)", "Страна (две буквы)", "Країна (дві літери)", "Land (to bogstaver)"),
    "save": ("Save", "Сохранить", "Зберегти", "Gem"),
    "saved": ("Saved.", "Сохранено.", "Збережено.", "Gemt."),
    "preferences": ("Messages and consent", "Сообщения и согласия", "Повідомлення та згоди",
                    "Beskeder og samtykke"),
    "consent_for": ("You may send me offers by {channel}", "Можно присылать мне предложения: {channel}",
                    "Можна надсилати мені пропозиції: {channel}", "I må sende mig tilbud via {channel}"),
    "unsubscribe_all": ("Stop all marketing messages", "Отписаться от всех рекламных сообщений",
                        "Відписатися від усіх рекламних повідомлень", "Stop alle markedsføringsbeskeder"),
    "surveys": ("Surveys", "Опросы", "Опитування", "Undersøgelser"),
    "answer": ("Answer", "Ответить", "Відповісти", "Besvar"),
    "complaints": ("Complaints and requests", "Жалобы и обращения", "Скарги та звернення",
                   "Klager og henvendelser"),
    "new_complaint": ("Tell us what went wrong", "Расскажите, что пошло не так", "Розкажіть, що пішло не так",
                      "Fortæl os, hvad der gik galt"),
    "subject": ("Subject", "Тема", "Тема", "Emne"),
    "description": ("What happened", "Что произошло", "Що сталося", "Hvad skete der"),
    "category": ("Topic", "Тема обращения", "Тема звернення", "Emne"),
    "submit": ("Send", "Отправить", "Надіслати", "Send"),
    "case_opened": ("Thank you. We have received it and will answer soon.", "Спасибо. Мы получили обращение и скоро ответим.",
                    "Дякуємо. Ми отримали звернення і скоро відповімо.", "Tak. Vi har modtaget det og svarer snart."),
    "reply": ("Your reply", "Ваш ответ", "Ваша відповідь", "Dit svar"),
    "export": ("Download my data", "Скачать мои данные", "Завантажити мої дані", "Download mine data"),
    "export_help": ("Everything we hold about you, as a JSON file.", "Всё, что мы о вас храним, в файле JSON.",
                    "Усе, що ми про вас зберігаємо, у файлі JSON.", "Alt, hvad vi har om dig, som en JSON-fil."),
    "close": ("Close my account", "Закрыть мой аккаунт", "Закрити мій акаунт", "Luk min konto"),
    "close_help": ("One step: your membership ends now, marketing stops, and you are signed out. "
                   "Your unused points are forfeited.",
                   "Один шаг: участие в программе прекращается сразу, рассылки останавливаются, вы выходите из аккаунта. "
                   "Неиспользованные баллы сгорают.",
                   "Один крок: участь у програмі припиняється одразу, розсилки зупиняються, ви виходите з акаунта. "
                   "Невикористані бали згорають.",
                   "Ét trin: dit medlemskab slutter nu, markedsføring stopper, og du bliver logget ud. "
                   "Ubrugte point bortfalder."),
    "erase_too": ("Also erase my personal data", "Также удалить мои персональные данные",
                  "Також видалити мої персональні дані", "Slet også mine personoplysninger"),
    "closed": ("Your account is closed. Thank you for having been with us.",
               "Ваш аккаунт закрыт. Спасибо, что были с нами.", "Ваш акаунт закрито. Дякуємо, що були з нами.",
               "Din konto er lukket. Tak fordi du var med."),
    "not_found": ("Not found.", "Не найдено.", "Не знайдено.", "Ikke fundet."),
    "form_error": ("Please check the highlighted field.", "Проверьте выделенное поле.",
                   "Перевірте виділене поле.", "Tjek det markerede felt."),
    "state": ("State", "Состояние", "Стан", "Tilstand"),
    "skip": ("Skip to content", "Перейти к содержимому", "Перейти до вмісту", "Gå til indhold"),
    "state_new": ("Received", "Получено", "Отримано", "Modtaget"),
    "state_acknowledged": ("We are on it", "Принято в работу", "Прийнято в роботу", "Vi er i gang"),
    "state_in_progress": ("Being handled", "В работе", "В роботі", "Under behandling"),
    "state_waiting_for_customer": ("Waiting for your answer", "Ждём вашего ответа", "Чекаємо на вашу відповідь",
                                   "Venter på dit svar"),
    "state_resolved": ("Resolved", "Решено", "Вирішено", "Løst"),
    "state_follow_up_done": ("Resolved", "Решено", "Вирішено", "Løst"),
    "state_closed": ("Closed", "Закрыто", "Закрито", "Lukket"),
    "our_apology": ("Our apology", "Наши извинения", "Наші вибачення", "Vores undskyldning"),
    "resolution": ("What we did", "Что мы сделали", "Що ми зробили", "Hvad vi gjorde"),
    "opened_on": ("Opened", "Открыто", "Відкрито", "Oprettet"),
    "send_reply": ("Send reply", "Отправить ответ", "Надіслати відповідь", "Send svar"),
    "cat_product": ("Product", "Товар", "Товар", "Produkt"),
    "cat_service": ("Service", "Обслуживание", "Обслуговування", "Service"),
    "cat_delivery": ("Delivery", "Доставка", "Доставка", "Levering"),
    "cat_billing": ("Payment and billing", "Оплата и счета", "Оплата та рахунки", "Betaling"),
    "cat_staff": ("Staff", "Персонал", "Персонал", "Personale"),
    "cat_other": ("Something else", "Другое", "Інше", "Andet"),
    "rate_limited": ("Too many attempts. Please wait a few minutes and try again.",
                     "Слишком много попыток. Подождите несколько минут и попробуйте снова.",
                     "Забагато спроб. Зачекайте кілька хвилин і спробуйте знову.",
                     "For mange forsøg. Vent et par minutter, og prøv igen."),
    "offers": ("My offers", "Мои предложения", "Мої пропозиції", "Mine tilbud"),
    "offer_code": ("Your code: {code}", "Ваш код: {code}", "Ваш код: {code}", "Din kode: {code}"),
    "claim": ("Add the points", "Начислить баллы", "Нарахувати бали", "Tilføj pointene"),
    "rsvp_yes": ("I will come", "Я приду", "Я прийду", "Jeg kommer"),
    "rsvp_maybe": ("Maybe", "Возможно", "Можливо", "Måske"),
    "rsvp_no": ("I cannot come", "Не смогу", "Не зможу", "Jeg kan ikke"),
    "rsvp_status_confirmed": ("You have a seat.", "Место за вами.", "Місце за вами.", "Du har en plads."),
    "rsvp_status_waitlisted": ("You are on the waiting list.", "Вы в листе ожидания.", "Ви в листі очікування.",
                               "Du er på ventelisten."),
    "rsvp_status_declined": ("You said you cannot come.", "Вы ответили, что не придёте.",
                             "Ви відповіли, що не прийдете.", "Du har meldt afbud."),
    "rsvp_status_maybe": ("You said maybe.", "Вы ответили «возможно».", "Ви відповіли «можливо».", "Du svarede måske."),
    "thanks_survey": ("Thank you for your answers!", "Спасибо за ваши ответы!", "Дякуємо за ваші відповіді!",
                      "Tak for dine svar!"),
    "more_questions": ("A few more questions, based on your answers:", "Ещё несколько вопросов по вашим ответам:",
                       "Ще кілька запитань за вашими відповідями:", "Et par spørgsmål mere ud fra dine svar:"),
}

KEYS = frozenset(_T)


def translate(language: str, key: str, **values: object) -> str:
    """The phrase for `key` in `language` (English for an unknown language), formatted."""
    index = LANGUAGES.index(language) if language in LANGUAGES else 0
    text = _T[key][index]
    return text.format(**values) if values else text


def language_of(locale: str | None, accept_language: str | None = None) -> str:
    """The customer's profile locale wins; otherwise the browser's first supported language."""
    for candidate in [locale or ""] + [part.split(";")[0] for part in (accept_language or "").split(",")]:
        lang = candidate.strip().split("-")[0].split("_")[0].lower()
        if lang in LANGUAGES:
            return lang
    return "en"
