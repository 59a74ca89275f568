"""Issue 14: a hostile or mistaken policy file is exit 5 naming the field, never "anyone may sign"."""

from __future__ import annotations

from pathlib import Path

import pytest

from baselines.policy import parse_policy
from integrity.errors import PolicyError

GOOD = '''version = 1
expires = "2099-01-01"
[root]
keys = ["alice"]
threshold = 1
[keys.alice]
roles = ["engineer"]
[[rules]]
devices = ["vfd-*"]
threshold = 2
roles = { engineer = 1, security = 1 }
[[rules]]
tag = "safety"
threshold = 3
'''


def test_a_good_policy_parses_and_rules_combine() -> None:
    p = parse_policy(GOOD.encode(), Path("policy.toml"))
    assert p.requirement("vfd-hoist", frozenset()).threshold == 2
    assert p.requirement("vfd-hoist", frozenset({"safety"})).threshold == 3
    assert p.requirement("plc-hoist", frozenset()).threshold == 1
    assert dict(p.requirement("vfd-hoist", None).roles) == {"engineer": 1, "security": 1}
    # tags unknown (no inventory): the tag rule applies, never a lower bar
    assert p.requirement("plc-hoist", None).threshold == 3


@pytest.mark.parametrize("edit,words", [
    pytest.param(lambda t: t.replace('devices = ["vfd-*"]', 'devices = "vfd-*"'),
                 "rules[0].devices must be a list", id="devices-as-string"),
    pytest.param(lambda t: t.replace("threshold = 2", 'threshold = "2"'),
                 "rules[0].threshold must be a positive", id="threshold-as-string"),
    pytest.param(lambda t: t.replace("threshold = 2", "treshold = 2"),
                 "unknown field(s) treshold", id="misspelt-field"),
    pytest.param(lambda t: t.replace('roles = ["engineer"]', 'roles = "engineer"'),
                 "keys.alice.roles must be a list", id="roles-as-string"),
    pytest.param(lambda t: t.replace('tag = "safety"', "tag = 5"), "rules[1].tag",
                 id="tag-not-a-string"),
    pytest.param(lambda t: t.replace('expires = "2099-01-01"', 'expires = "soon"'),
                 "expires must be a date", id="bad-expiry"),
    pytest.param(lambda t: t.replace("engineer = 1,", "engineer = 0,"),
                 "rules[0].roles.engineer", id="zero-role-count"),
    pytest.param(lambda t: t.replace("[root]\nkeys = [\"alice\"]\nthreshold = 1",
                                     "[root]\nkeys = [\"alice\"]\nthreshold = 2"),
                 "at most their number", id="root-threshold-too-high"),
    pytest.param(lambda t: t + "\n[checkpoint]\nkeyid = \"xyz\"\n", "checkpoint.keyid",
                 id="bad-checkpoint-keyid"),
    pytest.param(lambda t: t.replace("version = 1", "version = 0"), "version", id="version-0"),
    pytest.param(lambda t: "\xff" + t, "not valid", id="not-utf8-or-toml"),
])
def test_a_bad_policy_names_what_is_wrong(edit, words) -> None:
    with pytest.raises(PolicyError, match="policy policy.toml is not valid") as caught:
        parse_policy(edit(GOOD).encode("utf-8", "surrogateescape"), Path("policy.toml"))
    assert words in str(caught.value)
