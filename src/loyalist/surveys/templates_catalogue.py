"""Ready survey templates in English, Russian, Ukrainian and Danish.

The relationship questionnaire follows the seed questions (why do you buy from us, how well do
we meet your needs, what could we do better, what don't we do that you wish we did, what do you
value about us and about competitors). The exit interview asks lost customers for reason codes
(the same taxonomy the feedback analysis uses) plus free text. Conditional follow-ups: NPS
detractors (0-6) are asked what we should do better, passives what would raise their score,
promoters are invited to leave a public review (with the link given at creation).
"""

from __future__ import annotations

from typing import Any

from loyalist.errors import ValidationFailed
from loyalist.surveys.schemas import EXIT_REASON_CODES, LOCALES, SurveyCreate

T = dict[str, str]


def _t(en: str, ru: str, uk: str, da: str) -> T:
    return {"en": en, "ru": ru, "uk": uk, "da": da}


YES_NO_REVIEW = [
    {"code": "yes", "text": _t("Yes, I will leave a review", "Да, оставлю отзыв", "Так, залишу відгук",
                               "Ja, jeg skriver en anmeldelse")},
    {"code": "no", "text": _t("Not now", "Не сейчас", "Не зараз", "Ikke nu")},
]

EXIT_REASON_TEXTS: dict[str, T] = {
    "price": _t("Prices too high", "Слишком высокие цены", "Занадто високі ціни", "For høje priser"),
    "quality": _t("Quality of products or service", "Качество товаров или обслуживания",
                  "Якість товарів або обслуговування", "Kvaliteten af varer eller service"),
    "competitor_offer": _t("A better offer from a competitor", "Более выгодное предложение конкурента",
                           "Вигідніша пропозиція конкурента", "Et bedre tilbud fra en konkurrent"),
    "slow_response": _t("Slow or inadequate response to my requests",
                        "Медленная или неадекватная реакция на мои обращения",
                        "Повільна або неналежна реакція на мої звернення",
                        "Langsomme eller utilstrækkelige svar på mine henvendelser"),
    "promise_broken": _t("Promises were not kept", "Обещания не были выполнены", "Обіцянки не були виконані",
                         "Løfter blev ikke holdt"),
    "complaint_unresolved": _t("My complaint was not resolved", "Моя жалоба не была решена",
                               "Мою скаргу не було вирішено", "Min klage blev ikke løst"),
    "general_dissatisfaction": _t("General dissatisfaction", "Общее недовольство", "Загальне незадоволення",
                                  "Generel utilfredshed"),
    "other": _t("Something else", "Другое", "Інше", "Noget andet"),
}
assert tuple(EXIT_REASON_TEXTS) == EXIT_REASON_CODES


def _nps(review_link: str | None) -> tuple[T, list[dict[str, Any]]]:
    title = _t("How are we doing?", "Оцените нас", "Оцініть нас", "Hvordan klarer vi os?")
    return title, [
        {"key": "score", "type": "nps", "required": True,
         "text": _t("How likely are you to recommend us to a friend or colleague?",
                    "Насколько вероятно, что вы порекомендуете нас другу или коллеге?",
                    "Наскільки ймовірно, що ви порекомендуєте нас другові чи колезі?",
                    "Hvor sandsynligt er det, at du vil anbefale os til en ven eller kollega?")},
        {"key": "better", "type": "free_text", "show_if": {"question": "score", "min": 0, "max": 6},
         "text": _t("What should we do better?", "Что нам стоит делать лучше?", "Що нам варто робити краще?",
                    "Hvad burde vi gøre bedre?")},
        {"key": "raise", "type": "free_text", "show_if": {"question": "score", "min": 7, "max": 8},
         "text": _t("What would make you rate us higher?",
                    "Что помогло бы вам поставить нам более высокую оценку?",
                    "Що допомогло б вам поставити нам вищу оцінку?",
                    "Hvad skulle der til, for at du ville give os en højere karakter?")},
        {"key": "review", "type": "single_choice", "show_if": {"question": "score", "min": 9, "max": 10},
         "link": review_link, "options": YES_NO_REVIEW,
         "text": _t("Thank you! Would you share your experience in a public review?",
                    "Спасибо! Поделитесь впечатлениями в публичном отзыве?",
                    "Дякуємо! Поділитеся враженнями в публічному відгуку?",
                    "Tak! Vil du dele din oplevelse i en offentlig anmeldelse?")},
    ]


def _csat(review_link: str | None) -> tuple[T, list[dict[str, Any]]]:
    title = _t("Your recent purchase", "Ваша недавняя покупка", "Ваша нещодавня покупка", "Dit seneste køb")
    return title, [
        {"key": "satisfaction", "type": "csat", "required": True,
         "text": _t("How satisfied are you with your recent purchase?",
                    "Насколько вы довольны своей недавней покупкой?",
                    "Наскільки ви задоволені своєю нещодавньою покупкою?",
                    "Hvor tilfreds er du med dit seneste køb?")},
        {"key": "effort", "type": "ces",
         "text": _t("How easy was it to buy from us? (1 = very difficult, 7 = very easy)",
                    "Насколько легко было совершить у нас покупку? (1 — очень трудно, 7 — очень легко)",
                    "Наскільки легко було здійснити у нас покупку? (1 — дуже важко, 7 — дуже легко)",
                    "Hvor nemt var det at handle hos os? (1 = meget svært, 7 = meget nemt)")},
        {"key": "problem", "type": "free_text", "show_if": {"question": "satisfaction", "min": 1, "max": 3},
         "text": _t("What went wrong?", "Что пошло не так?", "Що пішло не так?", "Hvad gik galt?")},
        {"key": "review", "type": "single_choice", "show_if": {"question": "satisfaction", "min": 5, "max": 5},
         "link": review_link, "options": YES_NO_REVIEW,
         "text": _t("Glad to hear it! Would you share your experience in a public review?",
                    "Рады это слышать! Поделитесь впечатлениями в публичном отзыве?",
                    "Раді це чути! Поділитеся враженнями в публічному відгуку?",
                    "Dejligt at høre! Vil du dele din oplevelse i en offentlig anmeldelse?")},
        {"key": "comment", "type": "free_text",
         "text": _t("Anything else you would like to tell us?", "Хотите рассказать нам что-нибудь ещё?",
                    "Бажаєте розповісти нам ще щось?", "Er der andet, du gerne vil fortælle os?")},
    ]


def _relationship(review_link: str | None) -> tuple[T, list[dict[str, Any]]]:
    title = _t("Help us serve you better", "Помогите нам стать лучше для вас",
               "Допоможіть нам стати кращими для вас", "Hjælp os med at blive bedre for dig")
    return title, [
        {"key": "why_buy", "type": "free_text", "required": True,
         "text": _t("Why do you buy from us?", "Почему вы покупаете у нас?", "Чому ви купуєте у нас?",
                    "Hvorfor handler du hos os?")},
        {"key": "needs_met", "type": "rating", "min": 1, "max": 5, "required": True,
         "text": _t("How well do we meet your needs? (1 = not at all, 5 = completely)",
                    "Насколько хорошо мы удовлетворяем ваши потребности? (1 — совсем нет, 5 — полностью)",
                    "Наскільки добре ми задовольняємо ваші потреби? (1 — зовсім ні, 5 — повністю)",
                    "Hvor godt opfylder vi dine behov? (1 = slet ikke, 5 = fuldt ud)")},
        {"key": "do_better", "type": "free_text",
         "text": _t("What could we do better?", "Что мы могли бы делать лучше?", "Що ми могли б робити краще?",
                    "Hvad kunne vi gøre bedre?")},
        {"key": "wish", "type": "free_text",
         "text": _t("What don't we do that you wish we did?", "Чего мы не делаем, но вам хотелось бы?",
                    "Чого ми не робимо, але вам хотілося б?",
                    "Hvad gør vi ikke, som du ville ønske, at vi gjorde?")},
        {"key": "value_us", "type": "free_text",
         "text": _t("What do you value about us?", "Что вы цените в нас?", "Що ви цінуєте в нас?",
                    "Hvad sætter du pris på hos os?")},
        {"key": "value_competitors", "type": "free_text",
         "text": _t("What do you value about our competitors?", "Что вы цените в наших конкурентах?",
                    "Що ви цінуєте в наших конкурентах?", "Hvad sætter du pris på hos vores konkurrenter?")},
    ]


def _exit(review_link: str | None) -> tuple[T, list[dict[str, Any]]]:
    title = _t("We are sorry to see you go", "Жаль, что вы уходите", "Шкода, що ви йдете",
               "Vi er kede af at se dig gå")
    return title, [
        {"key": "reasons", "type": "multiple_choice", "required": True, "exit_reasons": True,
         "options": [{"code": c, "text": EXIT_REASON_TEXTS[c]} for c in EXIT_REASON_CODES],
         "text": _t("Why did you stop buying from us? Choose all that apply.",
                    "Почему вы перестали у нас покупать? Отметьте всё подходящее.",
                    "Чому ви перестали у нас купувати? Позначте все, що підходить.",
                    "Hvorfor holdt du op med at handle hos os? Vælg alle, der passer.")},
        {"key": "details", "type": "free_text",
         "text": _t("Please tell us more: what happened?", "Расскажите, пожалуйста, подробнее: что произошло?",
                    "Розкажіть, будь ласка, докладніше: що сталося?", "Fortæl os gerne mere: hvad skete der?")},
        {"key": "competitor", "type": "free_text", "show_if": {"question": "reasons", "in": ["competitor_offer"]},
         "text": _t("Which offer did you choose instead, and what made it better?",
                    "Какое предложение вы выбрали вместо нашего и чем оно лучше?",
                    "Яку пропозицію ви обрали замість нашої і чим вона краща?",
                    "Hvilket tilbud valgte du i stedet, og hvad gjorde det bedre?")},
        {"key": "win_back", "type": "single_choice",
         "options": [{"code": "yes", "text": _t("Yes", "Да", "Так", "Ja")},
                     {"code": "maybe", "text": _t("Maybe", "Возможно", "Можливо", "Måske")},
                     {"code": "no", "text": _t("No", "Нет", "Ні", "Nej")}],
         "text": _t("Would you consider coming back if we fixed this?",
                    "Вернулись бы вы к нам, если бы мы это исправили?",
                    "Чи повернулися б ви до нас, якби ми це виправили?",
                    "Ville du overveje at komme tilbage, hvis vi fik rettet op på det?")},
    ]


TEMPLATES: dict[str, tuple[str, str, Any]] = {
    # code: (kind, default name, builder)
    "nps": ("nps", "Net Promoter Score", _nps),
    "csat_post_purchase": ("csat", "Post-purchase satisfaction (CSAT)", _csat),
    "relationship": ("relationship", "Relationship questionnaire", _relationship),
    "exit_interview": ("exit", "Exit interview", _exit),
}


def template_codes() -> list[str]:
    return list(TEMPLATES)


def build(code: str, *, name: str | None = None, default_locale: str = "en", review_link: str | None = None,
          anonymous_link: bool = False) -> SurveyCreate:
    """A `SurveyCreate` for template `code` (texts in all four languages)."""
    if code not in TEMPLATES:
        raise ValidationFailed(f"template: unknown template {code!r}; one of {template_codes()}", field="template")
    if default_locale not in LOCALES:
        raise ValidationFailed(f"default_locale: one of {list(LOCALES)}", field="default_locale")
    kind, default_name, builder = TEMPLATES[code]
    title, questions = builder(review_link)
    return SurveyCreate.model_validate({"name": name or default_name, "kind": kind, "default_locale": default_locale,
                                        "title": title, "questions": questions, "anonymous_link": anonymous_link})
