# ruff: noqa: E501 - sentences are data
"""What demo customers write, by reason, in English, Russian, Ukrainian and Danish.

The demo shop is a coffee shop with a small online store and home delivery. Each reason has a
few differently worded sentences so the feedback themes, sentiment and language views have
something real to show; the reason codes match the feedback taxonomy.
"""

from __future__ import annotations

PHRASES: dict[str, dict[str, list[str]]] = {
    "praise": {
        "en": ["Best flat white in town, and the staff always remember my name.",
               "Lovely place, quick service and the cinnamon buns are fantastic.",
               "I come every morning because it feels like my own kitchen."],
        "ru": ["Лучший флэт уайт в городе, и бариста всегда помнят моё имя.",
               "Очень уютно, обслуживают быстро, булочки с корицей просто отличные.",
               "Захожу каждое утро — здесь как дома."],
        "uk": ["Найкраща кава в місті, і бариста завжди пам'ятають моє ім'я.",
               "Дуже затишно, обслуговують швидко, а булочки з корицею чудові.",
               "Приходжу щоранку, бо тут почуваюся як удома."],
        "da": ["Byens bedste flat white, og personalet husker altid mit navn.",
               "Hyggeligt sted, hurtig betjening og kanelsnegle i topklasse.",
               "Jeg kommer hver morgen, fordi det føles som mit eget køkken."],
    },
    "price": {
        "en": ["Prices went up again, a latte now costs more than lunch.",
               "Too expensive for a daily coffee, I buy less often now."],
        "ru": ["Цены опять выросли, латте теперь дороже обеда.",
               "Слишком дорого для кофе каждый день, стал заходить реже."],
        "uk": ["Ціни знову зросли, лате тепер коштує більше, ніж обід.",
               "Задорого для щоденної кави, тепер заходжу рідше."],
        "da": ["Priserne er steget igen, en latte koster nu mere end frokost.",
               "For dyrt til en daglig kop kaffe, jeg kommer sjældnere nu."],
    },
    "quality": {
        "en": ["The coffee tasted burnt twice this week.",
               "The sandwich was stale and the milk was sour."],
        "ru": ["Кофе дважды за неделю был с горьким пригоревшим вкусом.",
               "Сэндвич был чёрствый, а молоко прокисшее."],
        "uk": ["Кава двічі за тиждень була пригоріла й гірка.",
               "Сендвіч був черствий, а молоко скисле."],
        "da": ["Kaffen smagte brændt to gange i denne uge.",
               "Sandwichen var gammel, og mælken var sur."],
    },
    "slow_response": {
        "en": ["I wrote about my order a week ago and nobody has answered.",
               "Waited twenty minutes in the queue and left without coffee."],
        "ru": ["Я написал про заказ неделю назад, и никто так и не ответил.",
               "Простоял в очереди двадцать минут и ушёл без кофе."],
        "uk": ["Я написав щодо замовлення тиждень тому, і ніхто не відповів.",
               "Простояв у черзі двадцять хвилин і пішов без кави."],
        "da": ["Jeg skrev om min ordre for en uge siden, og ingen har svaret.",
               "Ventede tyve minutter i køen og gik uden kaffe."],
    },
    "staff": {
        "en": ["The barista was rude when I asked for oat milk.",
               "Nobody said hello, the staff were busy with their phones."],
        "ru": ["Бариста нагрубил, когда я попросил овсяное молоко.",
               "Никто не поздоровался, персонал сидел в телефонах."],
        "uk": ["Бариста нагрубив, коли я попросила вівсяне молоко.",
               "Ніхто не привітався, персонал сидів у телефонах."],
        "da": ["Baristaen var uhøflig, da jeg bad om havremælk.",
               "Ingen sagde hej, personalet sad med deres telefoner."],
    },
    "delivery": {
        "en": ["My delivery arrived an hour late and the coffee was cold.",
               "The courier left the parcel at the wrong door."],
        "ru": ["Доставка опоздала на час, кофе приехал холодным.",
               "Курьер оставил посылку не у той двери."],
        "uk": ["Доставка запізнилася на годину, кава приїхала холодною.",
               "Кур'єр залишив посилку не біля тих дверей."],
        "da": ["Min levering kom en time for sent, og kaffen var kold.",
               "Budet stillede pakken ved den forkerte dør."],
    },
    "product_availability": {
        "en": ["The decaf beans have been out of stock for a month.",
               "You never have the gluten free cake any more."],
        "ru": ["Кофе без кофеина нет в наличии уже месяц.",
               "Безглютенового торта больше никогда нет."],
        "uk": ["Кави без кофеїну немає в наявності вже місяць.",
               "Безглютенового торта більше ніколи немає."],
        "da": ["De koffeinfri bønner har været udsolgt i en måned.",
               "I har aldrig den glutenfri kage mere."],
    },
    "competitor_offer": {
        "en": ["The new place across the street gives every fifth coffee free.",
               "Another café offered me a better loyalty card, so I switched."],
        "ru": ["В новой кофейне напротив каждый пятый кофе бесплатно.",
               "Другое кафе предложило карту лояльности выгоднее, я перешёл туда."],
        "uk": ["У новій кав'ярні навпроти кожна п'ята кава безкоштовна.",
               "Інша кав'ярня запропонувала вигіднішу картку лояльності, тож я перейшов."],
        "da": ["Det nye sted over for giver hver femte kaffe gratis.",
               "En anden café tilbød mig et bedre stempelkort, så jeg skiftede."],
    },
    "promise_broken": {
        "en": ["You promised a refund for the broken mug and it never came.",
               "I was told my points would be restored, they were not."],
        "ru": ["Обещали вернуть деньги за разбитую кружку, но так и не вернули.",
               "Мне сказали, что баллы восстановят, но этого не сделали."],
        "uk": ["Обіцяли повернути гроші за розбиту чашку, але так і не повернули.",
               "Мені сказали, що бали відновлять, але цього не зробили."],
        "da": ["I lovede en refusion for det ødelagte krus, men den kom aldrig.",
               "Jeg fik at vide, at mine point ville blive genskabt, men det skete ikke."],
    },
}

# which exit-interview reason code each phrase group stands for
EXIT_REASON_OF = {"price": "price", "quality": "quality", "slow_response": "slow_response",
                  "competitor_offer": "competitor_offer", "promise_broken": "promise_broken",
                  "staff": "general_dissatisfaction", "delivery": "general_dissatisfaction",
                  "product_availability": "other"}

APOLOGIES = {
    "en": "We are sorry, this is not the experience we want for you. We are looking into it right now.",
    "ru": "Приносим извинения — мы хотим, чтобы у вас всё было иначе. Уже разбираемся.",
    "uk": "Перепрошуємо — ми хочемо, щоб у вас усе було інакше. Вже розбираємося.",
    "da": "Vi beklager, det er ikke den oplevelse, vi ønsker for dig. Vi ser på det med det samme.",
}
