"""CSV files as training data: a header, numeric feature columns and one label column.

Read with the standard `csv` module and numpy (no dataframe library). Text labels become
class ids in sorted order, and their names are kept for printing predictions. Every
problem names the file, the column and the line, so a user can open the file and fix it.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from kdsl.errors import DataError, did_you_mean
from kdsl.files import check_regular_file

FEATURES_HINT = "feature columns must hold numbers; name the label column with --target COLUMN"


@dataclass(frozen=True)
class Table:
    """A CSV's header and rows, each row with the line it was read from."""

    path: str
    header: list[str]
    rows: list[list[str]]
    lines: list[int]

    @cached_property
    def positions(self) -> dict[str, int]:
        """Each column's index, looked up once per column: a CSV may have 100,000 columns,
        and `header.index` for each would be quadratic."""
        return {column: index for index, column in enumerate(self.header)}

    def column(self, name: str) -> list[str]:
        index = self.positions[name]
        return [row[index].strip() for row in self.rows]


def read_table(path: str | Path) -> Table:
    """Header and rows of a CSV file; ragged rows and a missing header are errors."""
    name = str(path)
    file = Path(path)
    if not file.exists():
        raise DataError(name, "no such file")
    check_regular_file(file, DataError, "a CSV file")
    rows: list[list[str]] = []
    lines: list[int] = []
    try:
        with file.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            header = next((row for row in reader if row), None)
            for row in reader:
                if row:  # blank lines are skipped, as csv readers usually do
                    rows.append(row)
                    lines.append(reader.line_num)
    except UnicodeDecodeError as error:
        raise DataError(name, f"is not UTF-8 text ({error.reason})", "save it as UTF-8") from None
    except csv.Error as error:
        raise DataError(name, f"is not a readable CSV file: {error}") from None
    except OSError as error:
        raise DataError(name, f"cannot be read: {error.strerror or error}") from None
    if header is None:
        raise DataError(name, "is empty", "a CSV needs a header line naming its columns")
    header = [column.strip() for column in header]
    _check_header(name, header)
    if not rows:
        raise DataError(name, "has a header but no rows of data")
    for row, line in zip(rows, lines, strict=True):
        if len(row) != len(header):
            raise DataError(
                name,
                f"line {line} has {len(row)} field{'s' if len(row) != 1 else ''}, "
                f"but the header has {len(header)}",
                "every row needs one value per column",
            )
    return Table(name, header, rows, lines)


def _check_header(path: str, header: list[str]) -> None:
    if all(_is_number(field) for field in header):
        raise DataError(
            path,
            f"the first line ({','.join(header)[:60]}) looks like data, not a header",
            "add a first line naming the columns, e.g. `sepal_length,sepal_width,species`",
        )
    seen: set[str] = set()
    for position, column in enumerate(header, start=1):
        if not column:
            raise DataError(path, f"column {position} has no name in the header")
        if column in seen:
            raise DataError(path, f"column `{column}` appears twice in the header")
        seen.add(column)


def listed(names: list[str], limit: int = 20) -> str:
    """`a, b, c` for a few names; the first `limit` and a count of the rest for many (a
    CSV may have 100,000 columns)."""
    shown = ", ".join(names[:limit])
    return f"{shown} and {len(names) - limit:,} more" if len(names) > limit else shown


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def numbers(
    table: Table, column: str, what: str = "feature", hint: str | None = None
) -> np.ndarray:
    """A column as float64; the first empty, non-numeric or non-finite value is an error."""
    values = table.column(column)
    try:
        array = np.asarray(values, dtype="float64")
    except ValueError:
        for value, line in zip(values, table.lines, strict=True):
            if not value:
                raise DataError(
                    table.path,
                    f"{what} column `{column}` is empty on line {line}",
                    "fill in or drop rows with missing values",
                ) from None
            if not _is_number(value):
                raise DataError(
                    table.path,
                    f"{what} column `{column}` has a non-numeric value `{value[:40]}` "
                    f"on line {line}",
                    hint,
                ) from None
        raise DataError(table.path, f"{what} column `{column}` holds non-numbers") from None
    finite = np.isfinite(array)
    if not finite.all():
        index = int(np.argmin(finite))
        raise DataError(
            table.path,
            f"{what} column `{column}` holds {values[index]} on line {table.lines[index]}",
            "drop or impute rows with NaN or infinite values",
        )
    return array


def labels(table: Table, column: str) -> tuple[np.ndarray, list[str] | None]:
    """A label column: numbers as they are, text as class ids into sorted class names."""
    values = table.column(column)
    if all(_is_number(value) for value in values):
        y = numbers(table, column, "label")
        if np.all(np.mod(y, 1) == 0):
            return y.astype("int64"), None
        return y.astype("float32"), None
    for value, line in zip(values, table.lines, strict=True):
        if not value:
            raise DataError(
                table.path,
                f"label column `{column}` is empty on line {line}",
                "every row needs a label",
            )
    class_names = sorted(set(values))
    ids = np.searchsorted(np.asarray(class_names), np.asarray(values))
    return ids.astype("int64"), class_names


def target_column(table: Table, target: str | None) -> str:
    """The label column: `--target`, or else the last column."""
    if target is None:
        return table.header[-1]
    if target not in table.positions:
        raise DataError(
            table.path,
            f"has no column `{target}`; its columns are: {listed(table.header)}",
            did_you_mean(target, table.header) or "choose the label column with --target COLUMN",
        )
    return target


@dataclass(frozen=True)
class CsvData:
    x: np.ndarray
    y: np.ndarray
    feature_names: list[str]
    target: str
    class_names: list[str] | None


def read_csv(path: str | Path, target: str | None = None) -> CsvData:
    """Features and labels of a CSV file; `target` names the label column (default: last)."""
    table = read_table(path)
    label = target_column(table, target)
    features = [column for column in table.header if column != label]
    if not features:
        raise DataError(
            table.path,
            f"has only the label column `{label}`, no feature columns",
            "a CSV for training needs feature columns and a label column",
        )
    columns = [numbers(table, column, hint=FEATURES_HINT) for column in features]
    x = np.stack(columns, axis=1).astype("float32")
    y, class_names = labels(table, label)
    return CsvData(x, y, features, label, class_names)


def read_features(
    path: str | Path, feature_names: list[str] | None = None, target: str | None = None
) -> tuple[np.ndarray, list[str]]:
    """Rows to predict on, and their columns: the model's feature columns by name when
    known, else every column but the target's."""
    table = read_table(path)
    if feature_names is not None:
        missing = [column for column in feature_names if column not in table.positions]
        if missing:
            raise DataError(
                table.path,
                f"has no column{'s' if len(missing) > 1 else ''} "
                f"{listed([f'`{c}`' for c in missing])}, which the model was trained on",
                f"the model's feature columns are: {listed(feature_names)}",
            )
        columns = feature_names
    else:
        columns = [column for column in table.header if column != target]
    if not columns:
        raise DataError(table.path, "has no feature columns to predict from")
    hint = "feature columns must hold numbers; remove the label column from the file"
    x = np.stack([numbers(table, c, hint=hint) for c in columns], axis=1).astype("float32")
    return x, columns
