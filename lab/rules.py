"""The rules of the lab's parameters, as scikit-learn's ``_param_validation``. Each model
(:mod:`lab.models`) and each factorization function declares the rules of its own numeric and
flag parameters beside its code, as a mapping ``{name: rule}`` built from :func:`integer`,
:func:`real`, :func:`optional`, :data:`FLAG` and :data:`SEED` (the rules several owners share
have one name here: :data:`RANK`, :data:`PENALTY`, ...); :func:`check_params` checks them, and
every bad value raises :class:`InvalidParameterError` (a ``ValueError`` and a ``TypeError``, as
scikit-learn's error of that name) with the owner, the rule and the value. :func:`check_rank` is
the rule of a rank, with the memory it needs. Arguments that are data rather than settings (a
user id, a fold, a mask, the Bayesian model's ``clip`` pair) are checked where they are read.
The exercise's :func:`nmf_core.non_negative` checks its four parameters in a few lines of its
own (``nmf_core._parameters``): it imports nothing of the lab, so that it reads alone.  The
rules here accept the same ``n_iter`` and ranks, and the seeds both document (an integer, a
Generator or RandomState, None; the exercise hands its seed to NumPy's ``default_rng``, which
takes a few kinds more), and name the owner in the message."""

from __future__ import annotations

import inspect
import numbers
import os
from collections.abc import Callable, Mapping
from typing import NamedTuple

import numpy as np


class InvalidParameterError(ValueError, TypeError):
    """A parameter of the wrong type or out of range; the message names the owner (a
    model key or a function), the parameter, its rule and the value seen."""


class Rule(NamedTuple):
    """A parameter's rule: ``text`` reads "``name`` must be <text>", ``accepts`` tests a value,
    ``convert`` turns an accepted value into a plain Python one."""

    text: str
    accepts: Callable[[object], bool]
    convert: Callable[[object], object] = lambda value: value


def _is_number(value, kind) -> bool:
    return isinstance(value, kind) and not isinstance(value, (bool, np.bool_))


def integer(low: int) -> Rule:
    """An integer (not a bool) ``>= low``."""
    return Rule(f"an integer >= {low}", lambda v: _is_number(v, numbers.Integral) and low <= v,
                int)


def real(low: float = 0.0, *, strict: bool = False, high: float | None = None) -> Rule:
    """A finite number (not a bool) ``>= low``, or ``> low`` when ``strict``; at most
    ``high`` if given."""
    text = f"a finite number {'>' if strict else '>='} {low:g}" if high is None else \
        f"a finite number from {low:g}{' (excluded)' if strict else ''} to {high:g}"
    return Rule(text, lambda v: _is_number(v, numbers.Real) and bool(np.isfinite(v))
                and (v > low if strict else v >= low) and (high is None or v <= high), float)


def optional(rule: Rule) -> Rule:
    """``rule``, or None."""
    return Rule(f"{rule.text} or None", lambda v: v is None or rule.accepts(v),
                lambda v: v if v is None else rule.convert(v))


FLAG = Rule("True or False", lambda v: isinstance(v, (bool, np.bool_)), bool)
SEED = Rule("an integer >= 0, a numpy Generator or RandomState, or None",
            lambda v: v is None or isinstance(v, (np.random.Generator, np.random.RandomState))
            or _is_number(v, numbers.Integral) and v >= 0,
            lambda v: int(v) if isinstance(v, numbers.Integral) else v)


def defaults_of(function, *names: str) -> dict:
    """The defaults of ``function``'s parameters ``names``, read from its signature: a model
    that keeps a function's default names it here instead of repeating the value."""
    parameters = inspect.signature(function).parameters
    return {name: parameters[name].default for name in names}


def check_params(rules: Mapping[str, Rule], params: Mapping, owner: str) -> dict:
    """``params`` checked by ``rules``, as plain Python values; an unknown name or a value
    its rule refuses raises :class:`InvalidParameterError` naming ``owner``."""
    unknown = sorted(set(params) - set(rules))
    if unknown:
        takes = f"its parameters are {', '.join(rules)}" if rules else "it takes no parameters"
        raise InvalidParameterError(f"{owner} has no parameter {unknown[0]!r}; {takes}.")
    checked = {}
    for name, value in params.items():
        rule = rules[name]
        if not rule.accepts(value):
            raise InvalidParameterError(f"{owner}: {name} must be {rule.text}; got {value!r} "
                                        f"of type {type(value).__name__}.")
        checked[name] = rule.convert(value)
    return checked


#: Rules shared by name: one definition each, used by whoever has such a parameter.
RANK = integer(1)
ITERATIONS = integer(0)
PENALTY = real(0.0)
TOLERANCE = optional(real(0.0))
#: The rules of the parameters the iterative fits share (:mod:`lab.nmf`, :mod:`lab.factorizations`).
RULES_ITERATIVE = {"n_iter": ITERATIONS, "random_state": SEED, "l2": PENALTY,
                   "tol": TOLERANCE, "verbose": FLAG}


def check_rank(num_components, shape: tuple, owner: str) -> int:
    """``num_components`` as an int >= 1, the rule of :func:`nmf_core.non_negative` and of
    scikit-learn's NMF: more components than ``min(n, m)`` are allowed.  Checked before
    anything is allocated: a rank whose factors Z and H would not fit in this machine's
    memory raises a MemoryError that says how much they need.  (The exercise's
    :func:`nmf_core.non_negative` refuses only a rank NumPy could not even ask memory for and
    leaves the rest to NumPy; the lab's fits allocate more than Z and H before their start,
    so they ask the machine first.)"""
    M = check_params({"num_components": RANK}, {"num_components": num_components},
                     owner)["num_components"]
    need, have = 8 * (shape[0] + shape[1]) * M, _memory_bytes()
    if have and need > have:
        raise MemoryError(f"{owner}: num_components={M} is too many for data of shape {shape}: "
                          f"Z and H would need {need / 2**30:.3g} GiB, more than the "
                          f"{have / 2**30:.3g} GiB of this machine; choose fewer.")
    return M


def _memory_bytes() -> int:
    """This machine's memory in bytes, or 0 where the system does not say (e.g. Windows)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return 0
