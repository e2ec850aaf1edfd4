#!/usr/bin/env python3
"""Generate the numbering-plan data files of the vpbx-numplan crate.

Run from the repository root:

    python3 -m venv /tmp/np-venv
    /tmp/np-venv/bin/pip install -r numplan/gen/requirements.txt
    /tmp/np-venv/bin/python numplan/gen/gen_numplan.py

It writes, under numplan/data/ (paths are relative to this script, so the
current directory does not matter):

* countries.tsv -- country calling code -> ISO 3166-1 alpha-2 -> English name,
  one row per (code, country), from phonenumbers' metadata
  (COUNTRY_CODE_TO_REGION_CODE) and its locale data. For a code shared by
  several countries (1, 7, 44, ...) the first row is the main country (the one
  phonenumbers lists first); each other row carries, in `national_prefixes`,
  the national-number prefixes phonenumbers gives for it ("leading digits",
  e.g. 1 242 for BS, 7 7 for KZ), expanded from phonenumbers' small regular
  expressions into plain digit strings. A sharing country without leading
  digits (CA, GG, JE, ...) gets no prefixes: its numbers resolve to the main
  country. Non-geographic codes (region "001": 800, 808, 870, ...) are left
  out.
* subjects.tsv -- the 85 federal subjects of Russia: ISO 3166-2:RU code,
  English name, Russian name (as in the Constitution), and the other Russian
  spellings the regulator's registry uses (";"-separated). The table is
  SUBJECTS below, written by hand. Crimea and Sevastopol are not in
  ISO 3166-2:RU (ISO lists them as UA-43 and UA-40); they get the codes in
  common Russian use, RU-CR and RU-SEV.
* ru_abc.tsv -- Russian ABC (geographic) prefixes of phonenumbers' geocoder
  (+7 3xx/4xx/8xx, prefixes kept at the length phonenumbers gives, country
  code 7 included) -> ISO 3166-2:RU code + names. The geocoder's English
  descriptions are mapped to subjects by GEOCODER_EN below; prefixes whose
  description is ambiguous or wrong are mapped by BY_PREFIX. Prefixes that
  map to no subject are left out and listed on stderr.

The data is derived from libphonenumber / phonenumbers (Apache License 2.0);
see NOTICE at the repository root.
"""

import re
import sys
import unicodedata
from pathlib import Path

import phonenumbers
from phonenumbers.geodata import GEOCODE_DATA
from phonenumbers.geodata.locale import LOCALE_DATA
from phonenumbers.phonenumberutil import COUNTRY_CODE_TO_REGION_CODE, PhoneMetadata

DATA = Path(__file__).resolve().parent.parent / "data"

# (ISO 3166-2:RU code, English name, Russian name, other Russian spellings)
SUBJECTS = [
    # Republics
    ("RU-AD", "Republic of Adygea", "Республика Адыгея (Адыгея)", []),
    ("RU-AL", "Altai Republic", "Республика Алтай", []),
    ("RU-BA", "Republic of Bashkortostan", "Республика Башкортостан", ["Башкирия"]),
    ("RU-BU", "Republic of Buryatia", "Республика Бурятия", []),
    ("RU-DA", "Republic of Dagestan", "Республика Дагестан", []),
    ("RU-IN", "Republic of Ingushetia", "Республика Ингушетия", []),
    ("RU-KB", "Kabardino-Balkar Republic", "Кабардино-Балкарская Республика", []),
    ("RU-KL", "Republic of Kalmykia", "Республика Калмыкия", []),
    ("RU-KC", "Karachay-Cherkess Republic", "Карачаево-Черкесская Республика", []),
    ("RU-KR", "Republic of Karelia", "Республика Карелия", []),
    ("RU-KO", "Komi Republic", "Республика Коми", []),
    ("RU-CR", "Republic of Crimea", "Республика Крым", []),
    ("RU-ME", "Mari El Republic", "Республика Марий Эл", []),
    ("RU-MO", "Republic of Mordovia", "Республика Мордовия", []),
    ("RU-SA", "Sakha (Yakutia) Republic", "Республика Саха (Якутия)", ["Якутия"]),
    ("RU-SE", "Republic of North Ossetia-Alania", "Республика Северная Осетия — Алания",
     ["Республика Северная Осетия", "Северная Осетия"]),
    ("RU-TA", "Republic of Tatarstan", "Республика Татарстан (Татарстан)", []),
    ("RU-TY", "Tuva Republic", "Республика Тыва", ["Тува"]),
    ("RU-UD", "Udmurt Republic", "Удмуртская Республика", ["Удмуртия"]),
    ("RU-KK", "Republic of Khakassia", "Республика Хакасия", []),
    ("RU-CE", "Chechen Republic", "Чеченская Республика", ["Чечня"]),
    ("RU-CU", "Chuvash Republic", "Чувашская Республика — Чувашия",
     ["Чувашская Республика", "Чувашия"]),
    # Krais
    ("RU-ALT", "Altai Krai", "Алтайский край", []),
    ("RU-ZAB", "Zabaykalsky Krai", "Забайкальский край", []),
    ("RU-KAM", "Kamchatka Krai", "Камчатский край", []),
    ("RU-KDA", "Krasnodar Krai", "Краснодарский край", []),
    ("RU-KYA", "Krasnoyarsk Krai", "Красноярский край", []),
    ("RU-PER", "Perm Krai", "Пермский край", []),
    ("RU-PRI", "Primorsky Krai", "Приморский край", []),
    ("RU-STA", "Stavropol Krai", "Ставропольский край", []),
    ("RU-KHA", "Khabarovsk Krai", "Хабаровский край", []),
    # Oblasts
    ("RU-AMU", "Amur Oblast", "Амурская область", []),
    ("RU-ARK", "Arkhangelsk Oblast", "Архангельская область", []),
    ("RU-AST", "Astrakhan Oblast", "Астраханская область", []),
    ("RU-BEL", "Belgorod Oblast", "Белгородская область", []),
    ("RU-BRY", "Bryansk Oblast", "Брянская область", []),
    ("RU-VLA", "Vladimir Oblast", "Владимирская область", []),
    ("RU-VGG", "Volgograd Oblast", "Волгоградская область", []),
    ("RU-VLG", "Vologda Oblast", "Вологодская область", []),
    ("RU-VOR", "Voronezh Oblast", "Воронежская область", []),
    ("RU-IVA", "Ivanovo Oblast", "Ивановская область", []),
    ("RU-IRK", "Irkutsk Oblast", "Иркутская область", []),
    ("RU-KGD", "Kaliningrad Oblast", "Калининградская область", []),
    ("RU-KLU", "Kaluga Oblast", "Калужская область", []),
    ("RU-KEM", "Kemerovo Oblast - Kuzbass", "Кемеровская область — Кузбасс",
     ["Кемеровская область", "Кузбасс"]),
    ("RU-KIR", "Kirov Oblast", "Кировская область", []),
    ("RU-KOS", "Kostroma Oblast", "Костромская область", []),
    ("RU-KGN", "Kurgan Oblast", "Курганская область", []),
    ("RU-KRS", "Kursk Oblast", "Курская область", []),
    ("RU-LEN", "Leningrad Oblast", "Ленинградская область", []),
    ("RU-LIP", "Lipetsk Oblast", "Липецкая область", []),
    ("RU-MAG", "Magadan Oblast", "Магаданская область", []),
    ("RU-MOS", "Moscow Oblast", "Московская область", []),
    ("RU-MUR", "Murmansk Oblast", "Мурманская область", []),
    ("RU-NIZ", "Nizhny Novgorod Oblast", "Нижегородская область", []),
    ("RU-NGR", "Novgorod Oblast", "Новгородская область", []),
    ("RU-NVS", "Novosibirsk Oblast", "Новосибирская область", []),
    ("RU-OMS", "Omsk Oblast", "Омская область", []),
    ("RU-ORE", "Orenburg Oblast", "Оренбургская область", []),
    ("RU-ORL", "Oryol Oblast", "Орловская область", []),
    ("RU-PNZ", "Penza Oblast", "Пензенская область", []),
    ("RU-PSK", "Pskov Oblast", "Псковская область", []),
    ("RU-ROS", "Rostov Oblast", "Ростовская область", []),
    ("RU-RYA", "Ryazan Oblast", "Рязанская область", []),
    ("RU-SAM", "Samara Oblast", "Самарская область", []),
    ("RU-SAR", "Saratov Oblast", "Саратовская область", []),
    ("RU-SAK", "Sakhalin Oblast", "Сахалинская область", []),
    ("RU-SVE", "Sverdlovsk Oblast", "Свердловская область", []),
    ("RU-SMO", "Smolensk Oblast", "Смоленская область", []),
    ("RU-TAM", "Tambov Oblast", "Тамбовская область", []),
    ("RU-TVE", "Tver Oblast", "Тверская область", []),
    ("RU-TOM", "Tomsk Oblast", "Томская область", []),
    ("RU-TUL", "Tula Oblast", "Тульская область", []),
    ("RU-TYU", "Tyumen Oblast", "Тюменская область", []),
    ("RU-ULY", "Ulyanovsk Oblast", "Ульяновская область", []),
    ("RU-CHE", "Chelyabinsk Oblast", "Челябинская область", []),
    ("RU-YAR", "Yaroslavl Oblast", "Ярославская область", []),
    # Federal cities
    ("RU-MOW", "Moscow", "Москва", []),
    ("RU-SPE", "Saint Petersburg", "Санкт-Петербург", ["Петербург"]),
    ("RU-SEV", "Sevastopol", "Севастополь", []),
    # Autonomous oblast and okrugs
    ("RU-YEV", "Jewish Autonomous Oblast", "Еврейская автономная область", []),
    ("RU-NEN", "Nenets Autonomous Okrug", "Ненецкий автономный округ", []),
    ("RU-KHM", "Khanty-Mansi Autonomous Okrug - Yugra",
     "Ханты-Мансийский автономный округ — Югра",
     ["Ханты-Мансийский автономный округ", "Югра"]),
    ("RU-CHU", "Chukotka Autonomous Okrug", "Чукотский автономный округ", []),
    ("RU-YAN", "Yamalo-Nenets Autonomous Okrug", "Ямало-Ненецкий автономный округ", []),
]

# phonenumbers' English geocoder descriptions (cities or regions) -> subject.
GEOCODER_EN = {
    "Altai Territory": "RU-ALT",
    "Amur Region": "RU-AMU",
    "Arkhangelsk": "RU-ARK",
    "Astrakhan": "RU-AST",
    "Belgorod": "RU-BEL",
    "Bryansk": "RU-BRY",
    "Chechen Republic": "RU-CE",
    "Chelyabinsk": "RU-CHE",
    "Cherepovets": "RU-VLG",
    "Chita": "RU-ZAB",
    "Chukotka Autonomous District": "RU-CHU",
    "Chuvashi Republic": "RU-CU",
    "Ekaterinburg": "RU-SVE",
    "Ingushi Republic": "RU-IN",
    "Irkutsk": "RU-IRK",
    "Jewish Autonomous Region": "RU-YEV",
    "Kabardino-Balkarian Republic": "RU-KB",
    "Kaliningrad": "RU-KGD",
    "Kaluga": "RU-KLU",
    "Kamchatka Region": "RU-KAM",
    "Karachayevo-Cherkessian Republic": "RU-KC",
    "Kemerovo": "RU-KEM",
    "Khabarovsk Territory": "RU-KHA",
    "Kirov": "RU-KIR",
    "Komi Republic": "RU-KO",
    "Kostroma": "RU-KOS",
    "Krasnodar Territory": "RU-KDA",
    "Krasnoyarsk Territory": "RU-KYA",
    "Kurgan": "RU-KGN",
    "Kursk": "RU-KRS",
    "Leningrad region": "RU-LEN",
    "Lipetsk": "RU-LIP",
    "Magadan": "RU-MAG",
    "Mineranye Vody": "RU-STA",
    "Murmansk": "RU-MUR",
    "Naberezhnye Chelny": "RU-TA",
    "Nizhni Novgorod": "RU-NIZ",
    "Novosibirsk": "RU-NVS",
    "Omsk": "RU-OMS",
    "Orel": "RU-ORL",
    "Orenburg": "RU-ORE",
    "Penza": "RU-PNZ",
    "Perm": "RU-PER",
    "Primorie territory": "RU-PRI",
    "Pskov": "RU-PSK",
    "Republic of Adygeya": "RU-AD",
    "Republic of Altai": "RU-AL",
    "Republic of Bashkortostan": "RU-BA",
    "Republic of Buryatia": "RU-BU",
    "Republic of Daghestan": "RU-DA",
    "Republic of Kalmykia": "RU-KL",
    "Republic of Karelia": "RU-KR",
    "Republic of Khakassia": "RU-KK",
    "Republic of Marij El": "RU-ME",
    "Republic of Mordovia": "RU-MO",
    "Republic of North Ossetia": "RU-SE",
    "Republic of Sakha": "RU-SA",
    "Republic of Tatarstan": "RU-TA",
    "Republic of Tuva": "RU-TY",
    "Rostov": "RU-ROS",
    "Ryazan": "RU-RYA",
    "Sakhalin Region": "RU-SAK",
    "Samara": "RU-SAM",
    "Saratov": "RU-SAR",
    "Sevastopol": "RU-SEV",
    "Simferopol": "RU-CR",
    "Smolensk": "RU-SMO",
    "Sochi": "RU-KDA",
    "St Petersburg": "RU-SPE",
    "Stavropol territory": "RU-STA",
    "Surgut": "RU-KHM",
    "Tambov": "RU-TAM",
    "Tolyatti": "RU-SAM",
    "Tomsk": "RU-TOM",
    "Tula": "RU-TUL",
    "Tver": "RU-TVE",
    "Tyumen": "RU-TYU",
    "Udmurtian Republic": "RU-UD",
    "Ulyanovsk": "RU-ULY",
    "Veliky Novgorod": "RU-NGR",
    "Vladimir": "RU-VLA",
    "Volgograd": "RU-VGG",
    "Vologda": "RU-VLG",
    "Voronezh": "RU-VOR",
    "Yamalo-Nenets Autonomous District": "RU-YAN",
    "Yaroslavl": "RU-YAR",
}

# Prefixes mapped by hand, before GEOCODER_EN. "Moscow" describes 495, 496, 498
# and 499 alike in the English data, and phonenumbers' Russian data swaps 495
# (city) and 496 (oblast); 493 (Ivanovo) has no English description.
BY_PREFIX = {
    "7495": "RU-MOW",
    "7499": "RU-MOW",
    "7496": "RU-MOS",
    "7498": "RU-MOS",
    "7493": "RU-IVA",
}

# English names of regions that phonenumbers' locale data lacks.
COUNTRY_NAMES_EXTRA = {
    "AC": "Ascension Island",
    "TA": "Tristan da Cunha",
    "XK": "Kosovo",
}


def expand_leading_digits(pattern):
    """Expand a leading-digits regex of digits, [..], (?:..) and | into strings.

    Returns None when the pattern uses anything else.
    """
    pos = 0

    def alternation():
        nonlocal pos
        out = sequence()
        while pos < len(pattern) and pattern[pos] == "|":
            pos += 1
            out = out + sequence()
        return out

    def sequence():
        nonlocal pos
        out = [""]
        while pos < len(pattern) and pattern[pos] not in "|)":
            c = pattern[pos]
            if c.isdigit():
                pos += 1
                alts = [c]
            elif c == "[":
                end = pattern.index("]", pos)
                body = pattern[pos + 1:end]
                pos = end + 1
                alts = []
                i = 0
                while i < len(body):
                    if i + 2 < len(body) and body[i + 1] == "-":
                        alts += [str(d) for d in range(int(body[i]), int(body[i + 2]) + 1)]
                        i += 3
                    else:
                        alts.append(body[i])
                        i += 1
            elif pattern.startswith("(?:", pos):
                pos += 3
                alts = alternation()
                if pos >= len(pattern) or pattern[pos] != ")":
                    raise ValueError(pattern)
                pos += 1
            else:
                raise ValueError(pattern)
            out = [a + b for a in out for b in alts]
        return out

    try:
        result = alternation()
    except ValueError:
        return None
    if pos != len(pattern) or not all(s.isdigit() for s in result):
        return None
    return sorted(set(result))


def country_name(region):
    if region in COUNTRY_NAMES_EXTRA:
        return COUNTRY_NAMES_EXTRA[region]
    names = LOCALE_DATA.get(region, {})
    name = names.get("en")
    # The locale data shares strings: "*aa" means "the same as language aa".
    while name is not None and name.startswith("*"):
        name = names.get(name[1:])
    if not name:
        raise SystemExit(f"no English name for region {region}")
    return name


def clean(text):
    if "\t" in text or "\n" in text:
        raise SystemExit(f"tab or newline in {text!r}")
    return unicodedata.normalize("NFC", text)


def write_countries():
    rows = []
    skipped = []
    for code in sorted(COUNTRY_CODE_TO_REGION_CODE, key=str):
        regions = COUNTRY_CODE_TO_REGION_CODE[code]
        for i, region in enumerate(regions):
            if region == "001":
                skipped.append(code)
                continue
            prefixes = []
            if i > 0:
                meta = PhoneMetadata.metadata_for_region(region)
                ld = meta.leading_digits if meta else None
                if ld:
                    expanded = expand_leading_digits(ld)
                    if expanded is None:
                        print(f"countries: +{code} {region}: leading digits {ld!r} not expanded",
                              file=sys.stderr)
                    else:
                        prefixes = expanded
            rows.append((str(code), region, clean(country_name(region)), ",".join(prefixes)))
    with open(DATA / "countries.tsv", "w", encoding="utf-8", newline="\n") as f:
        f.write(f"# Generated by numplan/gen/gen_numplan.py from phonenumbers "
                f"{phonenumbers.__version__}; do not edit. See NOTICE.\n")
        f.write("code\tiso\tname\tnational_prefixes\n")
        for row in rows:
            f.write("\t".join(row) + "\n")
    codes = len({r[0] for r in rows})
    print(f"countries.tsv: {len(rows)} rows, {codes} calling codes; "
          f"non-geographic codes left out: {sorted(set(skipped))}", file=sys.stderr)


def write_subjects():
    codes = [s[0] for s in SUBJECTS]
    assert len(SUBJECTS) == 85, len(SUBJECTS)
    assert len(set(codes)) == 85
    with open(DATA / "subjects.tsv", "w", encoding="utf-8", newline="\n") as f:
        f.write("# Generated by numplan/gen/gen_numplan.py (table SUBJECTS); do not edit.\n")
        f.write("code\tname_en\tname_ru\taliases_ru\n")
        for code, en, ru, aliases in SUBJECTS:
            f.write("\t".join([code, clean(en), clean(ru), clean(";".join(aliases))]) + "\n")
    print(f"subjects.tsv: {len(SUBJECTS)} subjects", file=sys.stderr)


def write_ru_abc():
    subjects = {s[0]: s for s in SUBJECTS}
    for code in list(GEOCODER_EN.values()) + list(BY_PREFIX.values()):
        assert code in subjects, code
    rows = []
    unmapped = []
    for prefix in sorted(GEOCODE_DATA):
        if not (prefix.startswith("7") and len(prefix) > 1 and prefix[1] in "348"):
            continue
        names = GEOCODE_DATA[prefix]
        desc = names.get("en") or ""
        code = BY_PREFIX.get(prefix) or GEOCODER_EN.get(desc)
        if code is None:
            unmapped.append((prefix, desc, names.get("ru", "")))
            continue
        _, en, ru, _ = subjects[code]
        rows.append((prefix, code, en, ru, desc))
    with open(DATA / "ru_abc.tsv", "w", encoding="utf-8", newline="\n") as f:
        f.write(f"# Generated by numplan/gen/gen_numplan.py from phonenumbers "
                f"{phonenumbers.__version__} geocoder data; do not edit. See NOTICE.\n")
        f.write("prefix\tcode\tname_en\tname_ru\tgeocoder_en\n")
        for row in rows:
            f.write("\t".join(clean(x) for x in row) + "\n")
    print(f"ru_abc.tsv: {len(rows)} prefixes", file=sys.stderr)
    for prefix, desc, ru in unmapped:
        print(f"ru_abc.tsv: +{prefix} ({desc!r}, {ru!r}) maps to no federal subject; left out",
              file=sys.stderr)


def main():
    DATA.mkdir(parents=True, exist_ok=True)
    write_countries()
    write_subjects()
    write_ru_abc()


if __name__ == "__main__":
    main()
