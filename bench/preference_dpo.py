"""DPO on SmolLM2-135M-Instruct (offline), on pairs that differ only in format: the preferred
answer is the JSON the prompt asks for, the rejected one the same fact in a sentence.

Prints, on the held-out pairs of the run's test split: how often the model prefers the JSON
answer (summed log-probability), before and after, TRL's reward accuracy and margin, and how
many of the held-out prompts the model answers with valid JSON, before and after (greedy).

    python bench/preference_dpo.py [--epochs 2] [--out runs/bench-dpo]
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

# country, capital, continent, language
FACTS = """France,Paris,Europe,French;Germany,Berlin,Europe,German;Italy,Rome,Europe,Italian
Spain,Madrid,Europe,Spanish;Portugal,Lisbon,Europe,Portuguese;Greece,Athens,Europe,Greek
Poland,Warsaw,Europe,Polish;Sweden,Stockholm,Europe,Swedish;Norway,Oslo,Europe,Norwegian
Finland,Helsinki,Europe,Finnish;Denmark,Copenhagen,Europe,Danish;Ireland,Dublin,Europe,English
Austria,Vienna,Europe,German;Hungary,Budapest,Europe,Hungarian;Czechia,Prague,Europe,Czech
Netherlands,Amsterdam,Europe,Dutch;Belgium,Brussels,Europe,Dutch;Romania,Bucharest,Europe,Romanian
Ukraine,Kyiv,Europe,Ukrainian;Russia,Moscow,Europe,Russian;Turkey,Ankara,Asia,Turkish
Japan,Tokyo,Asia,Japanese;China,Beijing,Asia,Chinese;India,New Delhi,Asia,Hindi
Thailand,Bangkok,Asia,Thai;Vietnam,Hanoi,Asia,Vietnamese;Indonesia,Jakarta,Asia,Indonesian
Iran,Tehran,Asia,Persian;Iraq,Baghdad,Asia,Arabic;Israel,Jerusalem,Asia,Hebrew
Pakistan,Islamabad,Asia,Urdu;Nepal,Kathmandu,Asia,Nepali;Mongolia,Ulaanbaatar,Asia,Mongolian
Philippines,Manila,Asia,Filipino;Malaysia,Kuala Lumpur,Asia,Malay;South Korea,Seoul,Asia,Korean
Egypt,Cairo,Africa,Arabic;Kenya,Nairobi,Africa,Swahili;Nigeria,Abuja,Africa,English
Ethiopia,Addis Ababa,Africa,Amharic;Morocco,Rabat,Africa,Arabic;Ghana,Accra,Africa,English
Senegal,Dakar,Africa,French;Tanzania,Dodoma,Africa,Swahili;Algeria,Algiers,Africa,Arabic
Angola,Luanda,Africa,Portuguese;Mali,Bamako,Africa,French;Tunisia,Tunis,Africa,Arabic
Brazil,Brasilia,South America,Portuguese;Argentina,Buenos Aires,South America,Spanish
Chile,Santiago,South America,Spanish;Peru,Lima,South America,Spanish
Colombia,Bogota,South America,Spanish;Venezuela,Caracas,South America,Spanish
Ecuador,Quito,South America,Spanish;Uruguay,Montevideo,South America,Spanish
Bolivia,Sucre,South America,Spanish;Paraguay,Asuncion,South America,Spanish
Canada,Ottawa,North America,English;Mexico,Mexico City,North America,Spanish
Cuba,Havana,North America,Spanish;Jamaica,Kingston,North America,English
Panama,Panama City,North America,Spanish;Honduras,Tegucigalpa,North America,Spanish
Australia,Canberra,Oceania,English;New Zealand,Wellington,Oceania,English
Fiji,Suva,Oceania,English;Samoa,Apia,Oceania,Samoan"""

ASKS = {
    "capital": ("What is the capital of {c}?", "The capital of {c} is {v}."),
    "continent": ("Which continent is {c} in?", "{c} is in {v}."),
    "language": ("Which language is mainly spoken in {c}?", "People in {c} mainly speak {v}."),
}


def make_pairs(seed: int = 0) -> list[dict]:
    rows = []
    for line in FACTS.replace("\n", ";").split(";"):
        country, capital, continent, language = line.split(",")
        values = {"capital": capital, "continent": continent, "language": language}
        for key, (question, sentence) in ASKS.items():
            prompt = (
                f"{question.format(c=country)} Reply only with JSON with the keys "
                f'"country" and "{key}".'
            )
            chosen = json.dumps({"country": country, key: values[key]})
            rows.append(
                {
                    "prompt": prompt,
                    "chosen": chosen,
                    "rejected": sentence.format(c=country, v=values[key]),
                }
            )
    random.Random(seed).shuffle(rows)
    return rows


def json_answers(answers: list[str], whole: bool) -> int:
    """Answers that are one JSON object (`whole`), or that start with one."""

    def ok(text: str) -> bool:
        text = text.strip().removeprefix("```json").removeprefix("```").strip()
        try:
            value, end = json.JSONDecoder().raw_decode(text)
        except ValueError:
            return False
        rest = text[end:].strip().removesuffix("```").strip()
        return isinstance(value, dict) and (not whole or not rest)

    return sum(ok(a) for a in answers)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=float, default=2)
    parser.add_argument("--lr", type=float, help="learning rate (default: the task's, 5e-5)")
    parser.add_argument("--out", default=str(Path(tempfile.gettempdir()) / "bench-dpo"))
    args = parser.parse_args()

    import tunesmith
    from tunesmith.models.loading import resolve
    from tunesmith.tasks.generation import encoding as lm

    pairs = make_pairs()
    folder = Path(tempfile.mkdtemp())
    data = folder / "format_pairs.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in pairs), encoding="utf-8")
    started = time.perf_counter()
    model = tunesmith.train(
        str(data),
        model="smollm2-135m",
        out=args.out,
        overwrite=True,
        data={"test_size": 0.15},
        train={"epochs": args.epochs, "max_length": 96}
        | ({"learning_rate": args.lr} if args.lr else {}),
    )
    seconds = time.perf_counter() - started
    metrics = json.loads((model.path / "metrics.json").read_text(encoding="utf-8"))
    test = metrics["test"]
    import yaml

    from tunesmith.run_dir import CONFIG

    lr = yaml.safe_load((model.path / CONFIG).read_text(encoding="utf-8"))["train"]["learning_rate"]
    rows = json.loads((model.path / "splits.json").read_text(encoding="utf-8"))["test"]
    prompts = [pairs[i]["prompt"] for i in rows]

    from transformers import AutoModelForCausalLM, AutoTokenizer

    base_dir, _ = resolve("smollm2-135m")
    base = AutoModelForCausalLM.from_pretrained(base_dir)
    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    lm.prepare_tokenizer(tokenizer)
    before = lm.generate(base, tokenizer, prompts, max_new_tokens=48)
    after = [a["text"] for a in model.predict(prompts, max_new_tokens=48)]

    print(
        f"\nDPO, SmolLM2-135M-Instruct, LoRA, {len(pairs)} pairs, {args.epochs:g} epochs, "
        f"lr {lr:g} "
        f"({metrics['train_seconds']:.0f} s training, {seconds:.0f} s in all)"
    )
    print(f"held-out pairs: {test['count']}")
    print(f"{'':<44}{'before':>10}{'after':>10}")
    print(
        f"{'preference accuracy (JSON answer likelier)':<44}"
        f"{test['before']['accuracy']:>10.1%}{test['accuracy']:>10.1%}"
    )
    print(
        f"{'mean log-prob margin, JSON - sentence':<44}"
        f"{test['before']['margin']:>+10.2f}{test['margin']:>+10.2f}"
    )
    n = len(prompts)
    for name, whole in (
        ("answers starting with a JSON object", False),
        ("answers that are one JSON object", True),
    ):
        b, a = json_answers(before, whole), json_answers(after, whole)
        print(f"{name:<44}{b:>6}/{n}{a:>7}/{n}")
    print(
        f"TRL reward accuracy {test['reward_accuracy']:.1%}, reward margin "
        f"{test['reward_margin']:+.3f} (beta {test['beta']})"
    )
    print(f"example: {prompts[0]!r}\n  before: {before[0]!r}\n  after:  {after[0]!r}")


if __name__ == "__main__":
    main()
