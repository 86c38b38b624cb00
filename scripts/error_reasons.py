"""The ErrorInfo reasons the server sends, with their meanings, for docs/api.md.

The server raises reasons where the rule lives (domain/, families/, bulk/, ...), so
there is no one table of them in the code. This is that table, written by hand;
`reasons_in_code` finds every reason the server names, and `gen_api_docs.py --check`
fails when the two differ, so a new reason cannot ship undocumented.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

IA, NF, AE, FP = "INVALID_ARGUMENT", "NOT_FOUND", "ALREADY_EXISTS", "FAILED_PRECONDITION"
ROW = "import row error"

#: What a reason is, for the reader of docs/api.md.
OVERVIEW = (
    "A reason is the `ErrorInfo.reason` (domain `masterdata.v1`) of a failed call and, for "
    "INVALID_ARGUMENT, the `reason` of each `BadRequest.FieldViolation`; when every "
    "violation of a call has the same reason, the call's ErrorInfo carries it too. Import "
    "row errors (ImportCommodities, UploadCommodities) use the same vocabulary. Clients "
    "should branch on the status code and the reason, never on the message text."
)

#: reason -> (status codes, meaning). Alphabetical.
REASONS: dict[str, tuple[str, str]] = {
    "ABORTED": ("ABORTED", "Default of ABORTED: a conflicting change won; read again and retry."),
    "ALREADY_EXISTS": (AE, "Default of ALREADY_EXISTS: a live resource already has this key."),
    "COMMODITY_NOT_FOUND": (NF, "The commodity named for a unit conversion does not exist."),
    "CONFLICT": ("ABORTED", "The transaction conflicted with a concurrent one; retry it."),
    "DATABASE_UNAVAILABLE": ("UNAVAILABLE", "The database cannot be reached; retry later."),
    "DEADLINE_EXCEEDED": (
        "DEADLINE_EXCEEDED",
        "The caller's deadline passed while the database was still working.",
    ),
    "DELETED": (
        f"{NF}, {IA}, {ROW}",
        "The resource (or a referenced one, such as a trade type or template) is soft-deleted.",
    ),
    "DOCUMENT_SERIES_INACTIVE": (
        FP,
        "NextDocumentNumber: the active year's series of this document type is inactive.",
    ),
    "DUPLICATE": (
        f"{AE}, {IA}",
        "A unique rule among live rows was violated (metadata `constraint`), or a list "
        "repeats an entry (currencies, template ids).",
    ),
    "DUPLICATE_<FIELD>": (
        AE,
        "A live resource already has this value of the field (for example DUPLICATE_NAME, "
        "DUPLICATE_CODE, DUPLICATE_PLACE_ID); the BadRequest names the field.",
    ),
    "DUPLICATE_COLUMN": (IA, "An import file has the same column twice."),
    "DUPLICATE_DOCUMENT_TYPE": (AE, "The financial year already has a live series of this type."),
    "DUPLICATE_IN_FILE": (ROW, "An earlier row of the same import has this name or id."),
    "DUPLICATE_ITEM": (IA, "A list of a trade term repeats an item."),
    "DUPLICATE_VARIETY": (ROW, "An import row names the same variety twice."),
    "DUPLICATE_NAME": (
        f"{AE}, {ROW}",
        "A live commodity of this category already has this name (also created by a "
        "concurrent caller during an import).",
    ),
    "EMPTY_FILE": (IA, "An import file has no header row."),
    "EMPTY_ITEM": (IA, "A list of a trade term holds an empty item."),
    "END_BEFORE_START": (IA, "A financial year's end_date is not after its start_date."),
    "ETAG_MISMATCH": ("ABORTED", "The etag sent is not the current one: read again, retry."),
    "FAILED_PRECONDITION": (FP, "Default of FAILED_PRECONDITION."),
    "FINANCIAL_YEAR_ACTIVE": (FP, "The active financial year cannot be deleted."),
    "FINANCIAL_YEAR_DELETED": (FP, "The financial year is soft-deleted."),
    "FINANCIAL_YEAR_OF_OTHER_ORGANIZATION": (
        IA,
        "The financial year named belongs to another organization.",
    ),
    "FINANCIAL_YEAR_OVERLAP": (
        f"{IA}, {FP}",
        "The dates overlap another financial year of the organization.",
    ),
    "GSTIN_CHECKSUM": (IA, "A GSTIN's check character (15th) does not match."),
    "GSTIN_PAN_MISMATCH": (IA, "Characters 3-12 of a GSTIN are not the organization's PAN."),
    "GSTIN_STATE_CODE": (IA, "A GSTIN's first two digits are not a GST state code."),
    "HAS_CHILDREN": (
        FP,
        "Delete of a resource with live children (metadata: counts); delete them first or "
        "pass force.",
    ),
    "HS_CODE_MISMATCH": (IA, "hs_code_6digit is not the first 6 digits of hsn_code."),
    "IMMUTABLE": (IA, "An update changes a field that is fixed at create (such as the parent)."),
    "IMPORT_IN_PROGRESS": ("ABORTED", "Another import with the same request_id is running."),
    "INCOMPATIBLE_UNIT": (IA, "A commodity's unit is of the wrong dimension for its field."),
    "INCOMPATIBLE_UNITS": (IA, "ConvertUnits between units of different dimensions."),
    "INTERNAL": (
        "INTERNAL",
        "A bug of the server; metadata `call_id` finds the logged traceback.",
    ),
    "INVALID": (ROW, "A row failed a rule that gave no more specific reason."),
    "INVALID_ACCOUNT_NUMBER": (IA, "A bank account number is not 6-34 letters or digits."),
    "INVALID_ARGUMENT": (IA, "Default of INVALID_ARGUMENT: see the BadRequest violations."),
    "INVALID_BOOLEAN": (ROW, "An import cell is not true/false (or yes/no)."),
    "INVALID_CHARACTERS": (IA, "A string holds a character no backend may store (NUL)."),
    "INVALID_CIN": (IA, "Not a corporate identity number (21 characters)."),
    "INVALID_CODE": (IA, "A code holds other characters than letters, digits, '_' and '-'."),
    "INVALID_COLOR": (IA, "Not a colour like #1A2B3C."),
    "INVALID_COUNT": (IA, "ApplyParameterTemplates names fewer than 1 or more than 100 templates."),
    "INVALID_COUNTRY": (IA, "Not an ISO 3166 alpha-2 country code."),
    "INVALID_CURRENCY": (IA, "Not an ISO 4217 currency code."),
    "INVALID_DATE": (IA, "Not a complete, valid calendar date."),
    "INVALID_DECIMAL": (f"{IA}, {ROW}", "Not a finite decimal of the allowed size and scale."),
    "INVALID_DOCUMENT_TYPE": (IA, "Not a document type (upper-case letters, digits, '_')."),
    "INVALID_EMAIL": (IA, "Not a valid e-mail address."),
    "INVALID_ENTRY": (IA, "A list entry is blank or too long."),
    "INVALID_ENUM": (f"{IA}, {ROW}", "Not a value of the enum (or the unspecified value)."),
    "INVALID_FILTER": (IA, "The filter does not parse or names an unknown field or operator."),
    "INVALID_GSTIN": (IA, "Not a GSTIN of 15 characters."),
    "INVALID_HSN_CODE": (IA, "hsn_code is not 2, 4, 6 or 8 digits."),
    "INVALID_HS_CODE": (IA, "hs_code_6digit is not 6 digits."),
    "INVALID_ID": (f"{IA}, {ROW}", "Not a UUID."),
    "INVALID_IFSC": (IA, "Not an IFSC of 11 characters."),
    "INVALID_INTEGER": (ROW, "An import cell is not a whole number."),
    "INVALID_JSON": (
        f"{IA}, {ROW}",
        "Not a JSON object, nested too deep, or holding NaN or Infinity.",
    ),
    "INVALID_NUMBER": (IA, "Not a finite number."),
    "INVALID_ORDER_BY": (IA, "order_by names an unknown field or direction."),
    "INVALID_PAGE_SIZE": (IA, "page_size is negative."),
    "INVALID_PAGE_TOKEN": (
        IA,
        "The page_token is not one this server issued for the same request.",
    ),
    "INVALID_PAN": (IA, "Not a PAN of 10 characters."),
    "INVALID_PHONE": (IA, "Not a phone number of 6-15 digits."),
    "INVALID_PINCODE": (IA, "Not an Indian PIN code (six digits, not starting with 0)."),
    "INVALID_QUERY": (IA, "A search query is blank or too long."),
    "INVALID_RATE": (IA, "A commission rate is negative, or a percentage above 100."),
    "INVALID_SEQUENCE": (IA, "after_sequence is negative."),
    "INVALID_STATE_CODE": (IA, "Not a 2 or 3 letter state code."),
    "INVALID_TIMEZONE": (IA, "Not an IANA time zone."),
    "INVALID_URL": (IA, "Not an http(s) URL."),
    "LETTER_OF_CREDIT_NOT_SUPPORTED": (
        IA,
        "Letter-of-credit fields are set while supports_letter_of_credit is false.",
    ),
    "MALFORMED_REQUEST": (IA, "The request is not a valid protobuf message of the method's type."),
    "MASTERDATA_ERROR": (
        "(never sent)",
        "Base default; every error the server sends names one of its own.",
    ),
    "MIN_GREATER_THAN_MAX": (IA, "A minimum is above its maximum."),
    "MISSING_COLUMN": (IA, "An import file lacks a required column."),
    "MISSING_SCOPE": (
        "PERMISSION_DENIED",
        "The caller's credentials lack the scope the method needs (metadata `scopes`).",
    ),
    "MIXED": (IA, "An upload mixes CSV chunks and rows."),
    "NOT_CSV": (IA, "A file sent as CSV is an XLSX workbook or other ZIP file."),
    "NOT_DELETED": (AE, "Undelete of a resource that is not deleted."),
    "NOT_FOUND": (
        f"{NF}, {IA}, {ROW}",
        "Default of NOT_FOUND; also a referenced resource (trade type, template, an import "
        "row's id) that does not exist.",
    ),
    "NOT_UTF8": (IA, "A CSV file is not UTF-8 (the description gives the byte offset)."),
    "NO_ACTIVE_FINANCIAL_YEAR": (FP, "NextDocumentNumber: the organization has no active year."),
    "NO_DOCUMENT_SERIES": (FP, "NextDocumentNumber: the active year has no series of this type."),
    "NUMBERS_ISSUED": (
        FP,
        "The series (or year) has issued numbers: next_number only advances, and it cannot "
        "be deleted.",
    ),
    "OUT_OF_RANGE": (f"{IA}, {ROW}", "A number is outside its allowed range."),
    "OVERLOADED": (
        "RESOURCE_EXHAUSTED",
        "The server is at capacity (MAX_UNARY_IN_FLIGHT); retry after the RetryInfo delay.",
    ),
    "PARENT_DELETED": (FP, "The parent resource (organization, commodity, ...) is deleted."),
    "PERMISSION_DENIED": ("PERMISSION_DENIED", "Default of PERMISSION_DENIED."),
    "POOL_TIMEOUT": ("UNAVAILABLE", "No database connection came free in time; retry later."),
    "RATE_LIMITED": (
        "RESOURCE_EXHAUSTED",
        "The caller's rate limit is spent; retry after the RetryInfo delay.",
    ),
    "RECORD_TOO_LONG": (IA, "A CSV record is longer than the limit."),
    "REFERENCE": (FP, "A referenced resource does not exist (a foreign key)."),
    "REQUEST_ID_REUSED": (IA, "The request_id was already used with a different request."),
    "REQUIRED": (f"{IA}, {ROW}", "A required field or value is missing."),
    "RESOURCE_EXHAUSTED": ("RESOURCE_EXHAUSTED", "Default of RESOURCE_EXHAUSTED."),
    "<RESOURCE>_NOT_FOUND": (
        NF,
        "No resource of this kind has the id (for example LOCATION_NOT_FOUND); metadata "
        "`id` or `ids`.",
    ),
    "SAME_FINANCIAL_YEAR": (IA, "RollOverDocumentSeries from a year to the same year."),
    "SHUTTING_DOWN": (
        "UNAVAILABLE",
        "The server is shutting down; resubscribe with the last sequence received.",
    ),
    "STANDARD_WEIGHT_REQUIRED": (
        IA,
        "ConvertUnits between weight and count needs the commodity's standard weight.",
    ),
    "TOO_LARGE": (IA, "A file or JSON value is larger than allowed."),
    "TOO_LONG": (f"{IA}, {ROW}", "A string is longer than its limit."),
    "TOO_MANY": (IA, "A list or map has more entries than allowed."),
    "TOO_MANY_IDS": (IA, "A BatchGet asks for more ids than allowed (1000)."),
    "TOO_MANY_ITEMS": (IA, "A list of a trade term has too many items."),
    "TOO_MANY_ROWS": (IA, "An import or upload message holds too many rows."),
    "TOO_MANY_STREAMS": ("RESOURCE_EXHAUSTED", "The caller has too many open streams."),
    "TOO_MANY_VALUES": (IA, "An event filter lists too many values."),
    "UNAUTHENTICATED": ("UNAUTHENTICATED", "No valid credentials (never says which part)."),
    "UNEXPECTED": (IA, "Options in an upload message other than the first."),
    "UNEXPECTED_TIERS": (IA, "Tiers on a commission that is not TIERED."),
    "UNKNOWN_COLUMN": (IA, "A header cell names no column, where unknown columns are refused."),
    "UNKNOWN_FIELD": (IA, "update_mask names a field the resource does not have."),
    "UNKNOWN_TOKEN": (IA, "A document-number format uses a token other than FY, YYYY, YY, MM."),
    "UNKNOWN_UNIT": (IA, "Not a unit of the catalogue (see ListUnits)."),
    "UNORDERED_TIERS": (IA, "Commission tiers do not ascend by min_quantity."),
    "UNREADABLE_FILE": (IA, "An import file cannot be read as CSV or XLSX."),
    "WRONG_CATEGORY": (IA, "A parameter template is for another commodity category."),
    "XLSX_TOO_LARGE": (IA, "An XLSX file expands beyond the allowed size."),
}

#: Templates of reasons built at run time, as the code writes them.
TEMPLATES = {
    "{self.spec.name.upper()}_NOT_FOUND": "<RESOURCE>_NOT_FOUND",
    "{self.kind.upper()}_NOT_FOUND": "<RESOURCE>_NOT_FOUND",
    "DUPLICATE_{field.upper()}": "DUPLICATE_<FIELD>",
}

_REASON = re.compile(r"[A-Z][A-Z0-9]*(_[A-Z0-9]+)*")
#: Callables that take a reason positionally, and at which position.
_POSITIONAL = {
    "FieldViolation": 2,
    "add": 2,
    "_invalid": 2,
    "unreadable": 2,
    "_duplicate": 3,
    "RowFailure": 2,
    "Invalid": 0,
    "CellError": 0,
}
#: Names that hold a reason when assigned.
_HOLDERS = {"reason", "default_reason", "REASON"}


def _constants(node: ast.expr | None) -> Iterator[str]:
    """The reason(s) an expression can evaluate to: a literal, either arm of `a if c else b`,
    an f-string as its template."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        yield node.value
    elif isinstance(node, ast.IfExp):
        yield from _constants(node.body)
        yield from _constants(node.orelse)
    elif isinstance(node, ast.BoolOp):
        for value in node.values:
            yield from _constants(value)
    elif isinstance(node, ast.JoinedStr):
        yield ast.unparse(node)[2:-1]


def _callee(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def _reasons_of(tree: ast.AST) -> Iterator[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            for keyword in node.keywords:
                if keyword.arg == "reason":
                    yield from _constants(keyword.value)
            at = _POSITIONAL.get(_callee(node))
            if at is not None and len(node.args) > at:
                yield from _constants(node.args[at])
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(getattr(t, "id", None) in _HOLDERS for t in targets):
                yield from _constants(node.value)
        elif isinstance(node, ast.arguments):
            named = [*node.posonlyargs, *node.args]
            pairs = [
                *zip(named[len(named) - len(node.defaults) :], node.defaults, strict=True),
                *zip(node.kwonlyargs, node.kw_defaults, strict=True),
            ]
            yield from (v for arg, d in pairs if arg.arg == "reason" for v in _constants(d))
        elif isinstance(node, ast.Tuple) and len(node.elts) in (2, 3):
            # (field, description, reason) problems and (description, reason) verdicts
            *rest, last = node.elts
            if not any(_is_code(e) for e in rest):  # not a tuple of codes, such as unit aliases
                for value in _constants(last):
                    if _is_reason(value):
                        yield value


def _is_code(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.isupper()


def _is_reason(value: object) -> bool:
    return isinstance(value, str) and len(value) > 3 and _REASON.fullmatch(value) is not None


def reasons_in_code(root: Path) -> dict[str, set[str]]:
    """Every reason the server's modules name -> the files naming it (templates as
    <RESOURCE>_NOT_FOUND and DUPLICATE_<FIELD>)."""
    found: dict[str, set[str]] = {}
    for path in sorted(root.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        for value in _reasons_of(ast.parse(path.read_text(), str(path))):
            reason = TEMPLATES.get(value, value)
            if reason in TEMPLATES.values() or _REASON.fullmatch(reason):
                found.setdefault(reason, set()).add(str(path.relative_to(root)))
    return found
