"""Folding: repeated structure in an imported program written as `def` blocks and `* n`.

The program's chains (and its groups' branches) are lists of items, each a layer, a block
call or a group. An item's *shape* is its text with the whole numbers taken out (`conv2d #
1 strides=#`); a run of items whose shapes repeat becomes a block, the numbers that differ
between its uses its parameters (one parameter for numbers that always vary together), and
a run of equal items one item `* n`. Each round hashes every window of up to `MAX_WINDOW`
items once and takes the window that saves the most text, so folding costs
O(rounds x items x MAX_WINDOW) — linear in the model's size, never a search over pairs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

MAX_WINDOW = 12  # the longest run of items a block is made of
MAX_ROUNDS = 60  # blocks made at most
_NUMBER = re.compile(r"-?\d+")
_PARAMS = "abcdfghjkmnpqrstuvwxyz"  # `e`, `i`, `l`, `o` left out: read as numbers


@dataclass(eq=False)
class Item:
    """A chain element: a layer or a block call (`words`), or a group (`branches` and its
    `merge`); `fixed` when it has a label or reads one (it never moves into a block)."""

    words: list[str] | None = None
    branches: list[list[Item]] | None = None
    merge: Item | None = None
    fixed: bool = False
    repeat: int | str = 1

    def text(self) -> str:
        if self.branches is None:
            assert self.words is not None
            body = " ".join(self.words)
            return body if self.repeat == 1 else f"{body} * {self.repeat}"
        assert self.merge is not None
        branches = [chain_text(branch) if branch else "identity" for branch in self.branches]
        body = f"[{' | '.join(branches)}] -> {self.merge.text()}"
        return body if self.repeat == 1 else f"[{body}] * {self.repeat}"


def chain_text(items: list[Item]) -> str:
    return " -> ".join(item.text() for item in items)


@dataclass
class Block:
    name: str
    params: list[str]
    body: list[Item]
    uses: set[str] = field(default_factory=set)  # the blocks its body calls

    def text(self) -> str:
        head = " ".join([self.name, *self.params])
        return f"def {head} {{ {chain_text(self.body)} }}"


def _slot(word: str, params: frozenset[str]) -> tuple[str, str] | None:
    """A word's (prefix, value) when it is a whole number or a parameter (`strides=2`)."""
    prefix, _, value = word.rpartition("=")
    prefix = f"{prefix}=" if prefix else ""
    if _NUMBER.fullmatch(value) or value in params:
        return prefix, value
    return None


def shape(item: Item, params: frozenset[str], values: list[str]) -> str:
    """The item's text without its numbers (collected, in order, into `values`)."""
    if item.branches is None:
        assert item.words is not None
        words = [item.words[0]]
        plain = any("'" in w or '"' in w for w in item.words)
        for word in item.words[1:]:
            found = None if plain else _slot(word, params)
            if found is None:
                words.append(word)
            else:
                words.append(found[0] + "#")
                values.append(found[1])
        text = " ".join(words)
    else:
        assert item.merge is not None
        branches = ["->".join(shape(x, params, values) for x in b) for b in item.branches]
        text = f"[{'|'.join(branches)}]{shape(item.merge, params, values)}"
    if item.repeat != 1:
        values.append(str(item.repeat))
        text += "*#"
    return text


def rewrite(item: Item, params: frozenset[str], values: Iterator[str]) -> Item:
    """A copy of `item` with its numbers replaced, in `shape`'s order, by `values`."""
    if item.branches is None:
        assert item.words is not None
        plain = any("'" in w or '"' in w for w in item.words)
        words = [item.words[0]]
        for word in item.words[1:]:
            found = None if plain else _slot(word, params)
            words.append(word if found is None else found[0] + next(values))
        copy = Item(words=words)
    else:
        assert item.merge is not None
        branches = [[rewrite(x, params, values) for x in b] for b in item.branches]
        copy = Item(branches=branches, merge=rewrite(item.merge, params, values))
    if item.repeat != 1:
        copy.repeat = _number_or_name(next(values))
    return copy


def _param_name(number: int) -> str:
    letter = _PARAMS[number % len(_PARAMS)]
    return letter if number < len(_PARAMS) else f"{letter}{number // len(_PARAMS)}"


def _number_or_name(value: str) -> int | str:
    return int(value) if _NUMBER.fullmatch(value) else value


class Folder:
    """Folds the chains in place; `blocks` the `def`s made, `name` a free block name."""

    def __init__(self, chains: list[list[Item]], name: Callable[[int], str]) -> None:
        self.chains = chains
        self.final_name = name
        self.made = 0
        self.blocks: list[Block] = []
        self.bodies: dict[int, Block] = {}  # id(body list) → its block

    def lists(self) -> list[tuple[list[Item], frozenset[str]]]:
        """Every item list (chains, branches, block bodies), with the parameters it sees."""
        found: list[tuple[list[Item], frozenset[str]]] = []

        def walk(items: list[Item], params: frozenset[str]) -> None:
            found.append((items, params))
            for item in items:
                for branch in item.branches or ():
                    walk(branch, params)

        for chain in self.chains:
            walk(chain, frozenset())
        for block in self.blocks:
            walk(block.body, frozenset(block.params))
        return found

    def fold(self) -> list[Block]:
        for _ in range(MAX_ROUNDS):
            lists = self.lists()
            for items, _params in lists:
                collapse_runs(items)
            if not self.fold_once(self.lists()):
                break
        return self.ordered()

    def fold_once(self, lists: list[tuple[list[Item], frozenset[str]]]) -> bool:
        """Make the one block that saves the most text; False when none saves any."""
        windows: dict[tuple, list[tuple[int, int]]] = {}
        shapes: list[list[tuple[str, list[str], int]]] = []
        for index, (items, params) in enumerate(lists):
            row = []
            for item in items:
                values: list[str] = []
                row.append((shape(item, params, values), values, len(item.text())))
            shapes.append(row)
            for start in range(len(items)):
                key: tuple = ()
                for k in range(min(MAX_WINDOW, len(items) - start)):
                    if items[start + k].fixed:
                        break
                    key = (*key, row[start + k][0])
                    windows.setdefault(key, []).append((index, start))
        best: tuple[int, tuple, list[tuple[int, int]]] | None = None
        for key, places in windows.items():
            if len(places) < 2:
                continue
            chosen = self.non_overlapping(places, len(key), lists)
            if len(chosen) < 2:
                continue
            index, start = chosen[0]
            size = sum(shapes[index][start + k][2] for k in range(len(key)))
            gain = (len(chosen) - 1) * size - len(chosen) * 12 - 20
            if best is None or gain > best[0]:
                best = (gain, key, chosen)
        if best is None or best[0] <= 0:
            return False
        self.make_block(best[1], best[2], lists, shapes)
        return True

    def non_overlapping(
        self, places: list[tuple[int, int]], k: int, lists: list[tuple[list[Item], frozenset]]
    ) -> list[tuple[int, int]]:
        chosen: list[tuple[int, int]] = []
        end: dict[int, int] = {}
        names = self.block_names()
        for index, start in places:
            items = lists[index][0]
            if k == len(items) and id(items) in self.bodies:
                continue  # a whole block body: the block already exists
            words = items[start].words
            if k == 1 and words is not None and items[start].repeat == 1 and words[0] in names:
                continue  # a block of one block call
            if start >= end.get(index, 0):
                chosen.append((index, start))
                end[index] = start + k
        return chosen

    def make_block(
        self,
        key: tuple,
        places: list[tuple[int, int]],
        lists: list[tuple[list[Item], frozenset[str]]],
        shapes: list[list[tuple[str, list[str], int]]],
    ) -> None:
        k = len(key)
        rows = [
            [v for offset in range(k) for v in shapes[index][start + offset][1]]
            for index, start in places
        ]
        columns = [list(column) for column in zip(*rows, strict=True)]
        params: list[str] = []
        by_column: dict[tuple[str, ...], str] = {}
        first_slot: dict[str, int] = {}  # a parameter → the first slot it fills
        body_values: list[str] = []
        for position, column in enumerate(columns):
            outer = any(not _NUMBER.fullmatch(v) for v in column)
            if len(set(column)) == 1 and not outer:
                body_values.append(column[0])
                continue
            if tuple(column) not in by_column:
                param = _param_name(len(by_column))
                by_column[tuple(column)] = param
                first_slot[param] = position
                params.append(param)
            body_values.append(by_column[tuple(column)])
        self.made += 1
        name = f"__block{self.made}"  # renamed in definition order by `ordered`
        first_index, first_start = places[0]
        items, outer_params = lists[first_index]
        values = iter(body_values)
        body = [
            rewrite(item, outer_params, values) for item in items[first_start : first_start + k]
        ]
        block = Block(name, params, body)
        for (index, start), row in sorted(
            zip(places, rows, strict=True), key=lambda p: (p[0][0], -p[0][1])
        ):
            args = [row[first_slot[param]] for param in params]
            lists[index][0][start : start + k] = [Item(words=[name, *args])]
        self.blocks.append(block)
        self.bodies[id(block.body)] = block

    def block_names(self) -> set[str]:
        return {block.name for block in self.blocks}

    def ordered(self) -> list[Block]:
        """The blocks each after the blocks its body calls (a block is used after its
        definition), unused ones (inlined away) left out."""
        names = self.block_names()
        by_name = {block.name: block for block in self.blocks}
        for block in self.blocks:
            block.uses = {w for item in block.body for w in _called(item) if w in names}
        result: list[Block] = []
        done: set[str] = set()

        def visit(block: Block) -> None:
            if block.name in done:
                return
            done.add(block.name)
            for used in sorted(block.uses):
                visit(by_name[used])
            result.append(block)

        used: set[str] = set()
        for chain in self.chains:
            for item in chain:
                used.update(w for w in _called(item) if w in names)
        for block in self.blocks:
            if block.name in used:
                visit(block)
        self.rename({block.name: self.final_name(number) for number, block in enumerate(result, 1)})
        return result

    def rename(self, names: dict[str, str]) -> None:
        """Blocks numbered in the order they are defined (`block1`, `block2`, ...)."""

        def walk(item: Item) -> None:
            if item.words is not None and item.words[0] in names:
                item.words[0] = names[item.words[0]]
            for branch in item.branches or ():
                for inner in branch:
                    walk(inner)
            if item.merge is not None:
                walk(item.merge)

        for block in self.blocks:
            block.name = names.get(block.name, block.name)
            for item in block.body:
                walk(item)
        for chain in self.chains:
            for item in chain:
                walk(item)


def _called(item: Item) -> Iterator[str]:
    if item.branches is None:
        assert item.words is not None
        yield item.words[0]
        return
    for branch in item.branches:
        for inner in branch:
            yield from _called(inner)
    assert item.merge is not None
    yield from _called(item.merge)


def collapse_runs(items: list[Item]) -> None:
    """Equal neighbours, `a -> a -> a`, as one `a * 3`."""
    index = 0
    while index < len(items) - 1:
        item, following = items[index], items[index + 1]
        if (
            not item.fixed
            and not following.fixed
            and isinstance(item.repeat, int)
            and isinstance(following.repeat, int)
            and _base_text(item) == _base_text(following)
        ):
            item.repeat = item.repeat + following.repeat
            del items[index + 1]
            continue
        index += 1


def _base_text(item: Item) -> str:
    repeat = item.repeat
    item.repeat = 1
    try:
        return item.text()
    finally:
        item.repeat = repeat
