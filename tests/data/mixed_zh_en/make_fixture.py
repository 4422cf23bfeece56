"""Write the mixed Chinese/English test catalogue (products.parquet, events.parquet) next to this file.

Fifteen product topics, each sold once with an English listing (``en-XX``) and once with a Chinese
listing (``zh-XX``) worded independently, not translated line by line. Topic XX is the right answer for
a cross-lingual query about it. Run: ``python tests/data/mixed_zh_en/make_fixture.py``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent

# topic, English (title, description, category), Chinese (title, description, category), price
TOPICS = [
    ("coffee", ("Dark roast espresso coffee beans, 1 kg", "Whole beans roasted for espresso machines.",
                "Grocery > Coffee"),
     ("深度烘焙意式咖啡豆 1公斤", "适合意式咖啡机的整颗咖啡豆，香气浓郁。", "食品 > 咖啡"), 18.0),
    ("running_shoes", ("Lightweight running shoes for men", "Breathable mesh trainers with cushioned soles.",
                       "Sports > Running > Shoes"),
     ("男士轻便跑步鞋", "透气网面运动鞋，鞋底缓震，适合慢跑。", "运动 > 跑步 > 鞋"), 75.0),
    ("yoga_mat", ("Non-slip yoga mat, 6 mm thick", "Exercise mat for yoga and pilates with carry strap.",
                  "Sports > Yoga"),
     ("防滑瑜伽垫 6毫米加厚", "适合瑜伽和普拉提的健身垫，附背带。", "运动 > 瑜伽"), 25.0),
    ("tea_set", ("Porcelain tea set with teapot and six cups", "Traditional ceramic teapot set for loose leaf tea.",
                 "Kitchen > Tea"),
     ("陶瓷茶具套装 一壶六杯", "传统瓷器茶壶茶杯，适合泡散装茶叶。", "厨房 > 茶具"), 40.0),
    ("phone_case", ("Shockproof phone case for iPhone", "Clear protective cover with reinforced corners.",
                    "Electronics > Phone Accessories"),
     ("苹果手机防摔保护壳", "透明手机壳，四角加厚防撞。", "电子 > 手机配件"), 12.0),
    ("headphones", ("Wireless noise cancelling headphones", "Over-ear Bluetooth headphones, 30 hour battery.",
                    "Electronics > Audio"),
     ("无线降噪耳机", "头戴式蓝牙耳机，续航三十小时。", "电子 > 音频"), 120.0),
    ("picture_book", ("Children's picture book about animals", "Colourful bedtime stories for toddlers.",
                      "Books > Children"),
     ("儿童动物绘本", "色彩丰富的睡前故事书，适合幼儿。", "图书 > 儿童"), 9.0),
    ("kitchen_knife", ("Stainless steel chef's knife, 8 inch", "Sharp kitchen knife for cutting meat and vegetables.",
                       "Kitchen > Knives"),
     ("不锈钢厨师刀 8英寸", "锋利的厨房菜刀，切肉切菜都好用。", "厨房 > 刀具"), 35.0),
    ("umbrella", ("Compact folding umbrella, windproof", "Automatic open and close travel umbrella for rain.",
                  "Accessories > Umbrellas"),
     ("折叠雨伞 防风", "自动开合的便携旅行伞，下雨天必备。", "配饰 > 雨伞"), 15.0),
    ("backpack", ("Laptop backpack for travel", "Water resistant school and work bag with laptop sleeve.",
                  "Bags > Backpacks"),
     ("旅行电脑双肩包", "防泼水的书包和通勤包，带笔记本电脑隔层。", "箱包 > 双肩包"), 45.0),
    ("lipstick", ("Matte red lipstick", "Long lasting lip colour that does not dry the lips.", "Beauty > Makeup"),
     ("哑光红色口红", "持久不脱色的唇膏，不拔干。", "美妆 > 彩妆"), 20.0),
    ("dog_food", ("Dry dog food with chicken, 5 kg", "Complete nutrition kibble for adult dogs.",
                  "Pets > Dogs > Food"),
     ("鸡肉味成犬狗粮 5公斤", "营养均衡的成年犬干粮。", "宠物 > 狗 > 食品"), 30.0),
    ("desk_lamp", ("LED desk lamp with dimmer", "Eye-caring reading light with adjustable brightness.",
                   "Home > Lighting"),
     ("可调光LED台灯", "护眼阅读灯，亮度可调节。", "家居 > 灯具"), 28.0),
    ("bike_helmet", ("Bicycle helmet for adults", "Lightweight cycling helmet with adjustable fit.",
                     "Sports > Cycling"),
     ("成人自行车头盔", "轻量骑行头盔，尺寸可调。", "运动 > 骑行"), 40.0),
    ("wool_scarf", ("Warm wool scarf for winter", "Soft knitted merino scarf in grey.", "Clothing > Accessories"),
     ("冬季保暖羊毛围巾", "柔软的针织美利奴羊毛围巾，灰色。", "服装 > 配饰"), 22.0),
]

def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    rows = []
    for i, (topic, en, zh, price) in enumerate(TOPICS):
        for lang, (title, desc, cat) in (("en", en), ("zh", zh)):
            rows.append({"product_id": f"{lang}-{i:02d}", "title": title, "description": desc, "category": cat,
                         "brand": "", "price": price, "topic": topic})
    products = pd.DataFrame(rows).drop(columns="topic")
    t0 = pd.Timestamp("2024-03-01", tz="UTC")
    ev = [  # a Chinese-writing coffee lover, an English-writing runner, a mixed-language pet owner
        ("u_zh_coffee", "zh-00", "review", 0, 5.0, "咖啡豆很香，每天早上都喝"),
        ("u_zh_coffee", "en-03", "purchase", 1, None, ""),
        ("u_zh_coffee", None, "search", 2, None, "意式咖啡"),
        ("u_en_runner", "en-01", "review", 0, 5.0, "great shoes for my morning run"),
        ("u_en_runner", "zh-13", "purchase", 2, None, ""),
        ("u_mixed_pet", "zh-11", "review", 1, 4.0, "狗狗很喜欢吃 good value"),
        ("u_mixed_pet", "en-09", "view", 3, None, ""),
    ]
    events = pd.DataFrame({
        "user_id": [e[0] for e in ev], "product_id": [e[1] for e in ev], "event_type": [e[2] for e in ev],
        "timestamp": [t0 + pd.Timedelta(days=e[3]) for e in ev], "rating": [e[4] for e in ev],
        "text": [e[5] for e in ev],
    })
    return products, events


def main() -> None:
    products, events = frames()
    products.to_parquet(HERE / "products.parquet", index=False)
    events.to_parquet(HERE / "events.parquet", index=False)
    print(f"wrote {len(products)} products and {len(events)} events to {HERE}")


if __name__ == "__main__":
    main()
