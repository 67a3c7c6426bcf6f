"""Small per-locale name lists for demo customers (en, ru, uk, da)."""

from __future__ import annotations

FIRST_NAMES: dict[str, list[str]] = {
    "en": ["Oliver", "Amelia", "George", "Isla", "Harry", "Ava", "Jack", "Emily", "Noah", "Grace",
           "Leo", "Sophie", "Arthur", "Lily", "Oscar", "Chloe"],
    "da": ["Mads", "Freja", "Oscar", "Ida", "William", "Clara", "Karl", "Alma", "Lucas", "Emma",
           "Magnus", "Sofie", "Frederik", "Agnes", "Elias", "Karla"],
    "ru": ["Александр", "Анна", "Дмитрий", "Мария", "Сергей", "Елена", "Андрей", "Ольга", "Иван",
           "Наталья", "Михаил", "Татьяна", "Алексей", "Екатерина", "Павел", "Ирина"],
    "uk": ["Олександр", "Оксана", "Андрій", "Ірина", "Тарас", "Наталія", "Богдан", "Олена", "Дмитро",
           "Галина", "Юрій", "Марія", "Василь", "Катерина", "Остап", "Софія"],
}
LAST_NAMES: dict[str, list[str]] = {
    "en": ["Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Evans", "Walker"],
    "da": ["Nielsen", "Jensen", "Hansen", "Pedersen", "Andersen", "Christensen", "Larsen", "Sørensen",
           "Rasmussen", "Jørgensen"],
    "ru": ["Иванов", "Смирнов", "Кузнецов", "Попов", "Васильев", "Петров", "Соколов", "Михайлов",
           "Новиков", "Фёдоров"],
    "uk": ["Шевченко", "Коваленко", "Бондаренко", "Ткаченко", "Кравченко", "Олійник", "Шевчук",
           "Поліщук", "Бойко", "Мельник"],
}
PHONE_PREFIX = {"en": "+44 7911 ", "da": "+45 20", "ru": "+7 912 1", "uk": "+380 67 1"}
TIMEZONES = {"en": "Europe/London", "da": "Europe/Copenhagen", "ru": "Europe/Moscow", "uk": "Europe/Kyiv"}
