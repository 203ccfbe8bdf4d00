"""Generate CuPL sentences, DCLIP descriptors, WaffleCLIP concepts and FuDD pair differences with a
language model.

The one entry point for the CLI and the app. Classes are requested with bounded parallelism
(``config.concurrency`` threads); each (prompt, class) answer is cached on disk first, so a
rerun after a failure pays only for what is still missing. A class whose answers cannot be
obtained (after retries) is reported in ``GenerationReport.failures`` with the cause and never
appears in ``descriptions`` half-done. If the endpoint refuses everything (bad key, unknown
model, server down), classes not yet requested fail at once with that cause; so do they when
the caller cancels or its request budget is used up (``Controls``).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass

from prompting.errors import ClassListError, LLMError
from prompting.llm.cache import CacheKey, LLMCache
from prompting.llm.client import ChatClient, Completion, FatalLLMError
from prompting.llm.config import LLMConfig
from prompting.llm.parsing import parse_concept, parse_descriptors, parse_differences, parse_sentence
from prompting.llm.prompts import (
    CONCEPT_SAMPLE_SIZE,
    CUPL_IMAGENET_QUESTIONS,
    FUDD_MAX_DIFFERENCES,
    Prompt,
    concept_prompt,
    concept_sample,
    cupl_prompt,
    dclip_prompt,
    fudd_prompt,
    validate_questions,
)
from prompting.strategies.matching import loose_key
from prompting.strategies.fudd_pairs import Difference, PairDescriptions, pair_key

ProgressCallback = Callable[[int, int, str], None]
# A parser turns one reply into the values it contributes, or None if the reply is unusable.
ReplyParser = Callable[[str], list[str] | None]
# Asked before each request is sent; False means the caller's request budget is used up.
RequestGate = Callable[[], bool]
STOPPED = "stopped at your request"
BUDGET_USED = "this session has used up its language-model requests (answers already cached are still used)"

CUPL_N = 10
CUPL_TEMPERATURE = 0.99
DCLIP_TEMPERATURE = 0.0
CONCEPT_TEMPERATURE = 0.0
FUDD_TEMPERATURE = 0.0
# A reply cut off at the length limit is asked again with up to this many times the tokens.
MAX_TOKENS_GROWTH = 4


@dataclass
class GenerationReport:
    """What a batch produced: answers per class (editable before use), failures with causes.

    ``cached`` counts (prompt, class) requests answered from the disk cache, ``requested``
    those sent to the endpoint (including ones that failed).
    """

    descriptions: dict[str, list[str]]
    failures: dict[str, str]
    cached: int
    requested: int

    @property
    def ok(self) -> bool:
        """True when every class got its answers."""
        return not self.failures

    def summary(self) -> str:
        """One line: how many classes succeeded, and how many requests were cached or sent."""
        return batch_summary("Descriptions", "classes", len(self.descriptions), len(self.failures), self.cached,
                             self.requested)


def batch_summary(what: str, unit: str, done: int, failed: int, cached: int, requested: int) -> str:
    """"<what> for 2 of 3 <unit> (1 answers from the cache, 2 requested); 1 failed."."""
    text = f"{what} for {done} of {done + failed} {unit} ({cached} answers from the cache, {requested} requested)"
    return text + (f"; {failed} failed." if failed else ".")


@dataclass
class Controls:
    """What a caller may impose on a batch: a cancel event (checked before each request) and a
    gate asked before each request is sent (a request budget)."""

    cancel: threading.Event | None = None
    gate: RequestGate | None = None


class _Run:
    """One batch: a shared client, the cache, counters and the stop signal after a fatal error."""

    def __init__(self, client: ChatClient, config: LLMConfig, cache: LLMCache, method: str, temperature: float,
                 controls: Controls | None = None) -> None:
        self.client = client
        self.config = config
        self.cache = cache
        self.method = method
        self.temperature = float(temperature)
        self.controls = controls or Controls()
        self.cached = 0
        self.requested = 0
        self.stop_reason: str | None = None
        self._lock = threading.Lock()

    def stop(self, reason: str) -> None:
        """Stop sending requests (cached answers are still used)."""
        with self._lock:
            self.stop_reason = self.stop_reason or reason

    def answers(self, prompt: Prompt, class_name: str, n: int, parse: ReplyParser) -> list[str]:
        """The cached answers to ``prompt``, or ``n`` usable new ones (then cached)."""
        key = CacheKey(
            self.config.endpoint, self.config.model, self.method, prompt.text, class_name, self.temperature, n
        )
        hit = self.cache.get(key)
        if hit is not None:
            self._count(cached=1)
            return [self.config.redact(value) for value in hit]  # an entry cached before redaction existed
        self._check_controls()
        if self.stop_reason:
            raise FatalLLMError(f"Not requested: {self.stop_reason}")
        self._count(requested=1)
        try:
            values = _usable_answers(self.client, self.config, prompt, n, self.temperature, parse)
        except FatalLLMError as exc:
            self.stop(str(exc))
            raise
        self.cache.put(key, values)
        return values

    def _check_controls(self) -> None:
        """Stop the batch when the caller cancelled or its request budget is used up."""
        cancel, gate = self.controls.cancel, self.controls.gate
        if cancel is not None and cancel.is_set():
            self.stop(STOPPED)
        elif not self.stop_reason and gate is not None and not gate():
            self.stop(BUDGET_USED)

    def _count(self, cached: int = 0, requested: int = 0) -> None:
        with self._lock:
            self.cached += cached
            self.requested += requested


def _usable_answers(
    client: ChatClient, config: LLMConfig, prompt: Prompt, n: int, temperature: float, parse: ReplyParser
) -> list[str]:
    """Ask until ``n`` replies parse; a round with no usable reply counts against max_retries."""
    values: list[str] = []
    usable_total = 0
    fruitless = 0
    max_tokens = prompt.max_tokens
    while usable_total < n:
        usable = 0
        problem = ""
        completions = client.complete(prompt, n - usable_total, temperature, max_tokens)
        for completion in completions:
            parsed, problem_here = _parse_completion(completion, parse, max_tokens)
            if parsed is None:
                problem = problem_here
            else:
                values.extend(parsed)
                usable += 1
        if any(c.finish_reason == "length" for c in completions):
            max_tokens = min(max_tokens * 2, prompt.max_tokens * MAX_TOKENS_GROWTH)
        usable_total += usable
        if usable == 0:
            fruitless += 1
            if fruitless > config.max_retries:
                raise LLMError(
                    f"LLM endpoint {config.endpoint} (model {config.model}) gave no usable answer "
                    f"in {fruitless} tries: {problem}."
                )
    return values


def _parse_completion(completion: Completion, parse: ReplyParser, max_tokens: int) -> tuple[list[str] | None, str]:
    """The values of one completion, or None and what was wrong with it."""
    if completion.finish_reason == "length":
        return None, f"the reply was cut off at the length limit ({max_tokens} tokens)"
    if not completion.text.strip():
        return None, "the reply was empty"
    parsed = parse(completion.text)
    if parsed is None:
        snippet = " ".join(completion.text.split())[:80]
        return None, f"the reply could not be parsed ({snippet!r})"
    return parsed, ""


def _sentence_values(text: str) -> list[str] | None:
    sentence = parse_sentence(text)
    return [sentence] if sentence else None


def _descriptor_values(text: str) -> list[str] | None:
    return parse_descriptors(text) or None


def _concept_values(text: str) -> list[str] | None:
    concept = parse_concept(text)
    return None if concept is None else [concept]


def _unique_names(classes: Sequence[str]) -> list[str]:
    """Trimmed, non-empty, de-duplicated class names in order; ClassListError if none."""
    names = list(dict.fromkeys(c.strip() for c in classes if c and c.strip()))
    if not names:
        raise ClassListError("The class list is empty: give at least one class name to describe.")
    return names


def _run_classes(
    run: _Run, names: list[str], task: Callable[[str], list[str]], unit: str, progress: ProgressCallback | None
) -> GenerationReport:
    """Run ``task`` per class on a bounded pool; collect results, failures and counts."""
    results: dict[str, list[str]] = {}
    failures: dict[str, str] = {}
    workers = min(run.config.concurrency, len(names))
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="llm")
    try:
        futures = {pool.submit(task, name): name for name in names}
        for done, future in enumerate(as_completed(futures), start=1):
            name = futures[future]
            try:
                results[name] = future.result()
                message = f"{name}: {len(results[name])} {unit}"
            except LLMError as exc:
                failures[name] = str(exc)
                message = f"{name}: failed"
            if progress is not None:
                progress(done, len(names), message)
    finally:  # every request is done, or this was interrupted: queued ones are dropped, none is waited for
        pool.shutdown(wait=False, cancel_futures=True)
    return GenerationReport(
        descriptions={name: results[name] for name in names if name in results},
        failures={name: failures[name] for name in names if name in failures},
        cached=run.cached,
        requested=run.requested,
    )


def generate_cupl(
    classes: list[str],
    config: LLMConfig,
    questions: Sequence[str] = CUPL_IMAGENET_QUESTIONS,
    n: int = CUPL_N,
    temperature: float = CUPL_TEMPERATURE,
    progress: ProgressCallback | None = None,
    cache: LLMCache | None = None,
    controls: Controls | None = None,
) -> GenerationReport:
    """CuPL: ``n`` one-sentence answers to each question per class (5 x 10 = 50 by default)."""
    if n < 1:
        raise ValueError("n must be at least 1")
    questions = validate_questions(questions)
    names = _unique_names(classes)

    with ChatClient(config) as client:
        run = _Run(client, config, cache or LLMCache(), "cupl", temperature, controls)

        def task(name: str) -> list[str]:
            # Every question is asked even after one fails, so a rerun pays only for the failures.
            sentences: list[str] = []
            errors: list[tuple[LLMError, str]] = []
            for question in questions:
                prompt = cupl_prompt(question, name)
                try:
                    sentences += run.answers(prompt, name, n, _sentence_values)
                except FatalLLMError:
                    raise
                except LLMError as exc:
                    errors.append((exc, prompt.messages[-1][1]))
            if errors:
                (first, asked), more = errors[0], len(errors) - 1
                others = f"; {more} more of {len(questions)} questions failed" if more else ""
                raise LLMError(f"{first} (question: {asked!r}){others}") from first
            return sentences

        return _run_classes(run, names, task, "sentences", progress)


def generate_dclip(
    classes: list[str],
    config: LLMConfig,
    progress: ProgressCallback | None = None,
    temperature: float = DCLIP_TEMPERATURE,
    cache: LLMCache | None = None,
    controls: Controls | None = None,
) -> GenerationReport:
    """DCLIP: descriptor phrases per class from the paper's few-shot prompt (temperature 0)."""
    names = _unique_names(classes)
    with ChatClient(config) as client:
        run = _Run(client, config, cache or LLMCache(), "dclip", temperature, controls)

        def task(name: str) -> list[str]:
            return run.answers(dclip_prompt(name), name, 1, _descriptor_values)

        return _run_classes(run, names, task, "descriptors", progress)


def generate_concept(
    classes: list[str],
    config: LLMConfig,
    sample_size: int = CONCEPT_SAMPLE_SIZE,
    seed: int = 0,
    temperature: float = CONCEPT_TEMPERATURE,
    cache: LLMCache | None = None,
    controls: Controls | None = None,
) -> str:
    """WaffleCLIP concept shared by a seeded sample of up to 25 class names, e.g. ``"bird"``.

    Returns ``""`` when the model answers that the classes have nothing in common; raises
    LLMError when no usable answer can be obtained.
    """
    names = _unique_names(classes)
    prompt = concept_prompt(concept_sample(names, sample_size, seed))
    with ChatClient(config) as client:
        run = _Run(client, config, cache or LLMCache(), "concept", temperature, controls)
        return run.answers(prompt, "", 1, _concept_values)[0]


@dataclass
class PairReport:
    """What a FuDD batch produced: the differences of each pair that succeeded (in the order and
    orientation asked), failures by pair label ("A | B") with causes, and request counts as in
    ``GenerationReport``."""

    pairs: list[PairDescriptions]
    failures: dict[str, str]
    cached: int
    requested: int

    def summary(self) -> str:
        """One line: how many pairs succeeded, and how many requests were cached or sent."""
        return batch_summary("Differences", "pairs", len(self.pairs), len(self.failures), self.cached, self.requested)


def _unique_pairs(pairs: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """Trimmed pairs without repeats (in either order); ClassListError if none or if a pair
    names one class twice."""
    unique: dict[tuple[str, str], tuple[str, str]] = {}
    for first, second in pairs:
        first, second = " ".join(first.split()), " ".join(second.split())
        if not first or not second:
            raise ClassListError("A class pair has an empty class name.")
        key = pair_key(first, second)
        if key[0] == key[1]:
            raise ClassListError(f"The pair '{first}' / '{second}' names the same class twice.")
        unique.setdefault(key, (first, second))
    if not unique:
        raise ClassListError("There are no class pairs to describe.")
    return list(unique.values())


def generate_fudd(
    pairs: Sequence[tuple[str, str]],
    config: LLMConfig,
    progress: ProgressCallback | None = None,
    temperature: float = FUDD_TEMPERATURE,
    cache: LLMCache | None = None,
    limit: int = FUDD_MAX_DIFFERENCES,
    controls: Controls | None = None,
) -> PairReport:
    """FuDD: differential descriptions of each pair, one request per unordered pair (asked, and
    cached, in a fixed order of the two names, so "A | B" and "B | A" share one answer)."""
    asked = {f"{first} | {second}": (first, second) for first, second in _unique_pairs(pairs)}
    with ChatClient(config) as client:
        run = _Run(client, config, cache or LLMCache(), "fudd", temperature, controls)

        def task(label: str) -> list[str]:
            first, second = asked[label]
            flipped = loose_key(first) > loose_key(second)
            one, two = (second, first) if flipped else (first, second)

            def parse(text: str) -> list[str] | None:
                return [json.dumps(item) for item in parse_differences(text, one, two, limit)] or None

            answers = run.answers(fudd_prompt(one, two), f"{one} | {two}", 1, parse)
            if not flipped:
                return answers
            return [json.dumps([attribute, b, a]) for attribute, a, b in map(json.loads, answers)]

        report = _run_classes(run, list(asked), task, "differences", progress)
    found = [
        PairDescriptions(*asked[label], [Difference(*json.loads(item)) for item in items])
        for label, items in report.descriptions.items()
    ]
    return PairReport(found, report.failures, report.cached, report.requested)
