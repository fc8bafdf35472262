"""Texts that left the stage unlabelled: grants and notices that never use the word "license" (the
zlib notice, old "permission to copy ... is granted" grants) still reach the fingerprint matcher, the
wider prefilter invents no license for ordinary text, and labels use current SPDX ids."""
from __future__ import annotations

import re

from tests.unit.license_support import core, rec  # noqa: F401 - core is a fixture

ZLIB_NOTICE = """Copyright (C) 2019 Ilse Verhoeven

This software is provided 'as-is', without any express or implied warranty. In no event will the
authors be held liable for any damages arising from the use of this software.

Permission is granted to anyone to use this software for any purpose, including commercial
applications, and to alter it and redistribute it freely, subject to the following restrictions:

1. The origin of this software must not be misrepresented; you must not claim that you wrote the
   original software. If you use this software in a product, an acknowledgment in the product
   documentation would be appreciated but is not required.
2. Altered source versions must be plainly marked as such, and must not be misrepresented as
   being the original software.
3. This notice may not be removed or altered from any source distribution.
"""

OLD_GRANT = """// (C) Copyright Tomas Lindqvist 2001.
// Permission to copy, use, modify, sell and distribute this software is granted provided this
// copyright notice appears in all copies. This software is provided "as is" without express or
// implied warranty, and with no claim as to its suitability for any purpose.
int lindqvist_max(int a, int b) { return a > b ? a : b; }
"""


def test_a_zlib_notice_without_the_word_license_is_named(core):
    assert "licen" not in ZLIB_NOTICE.lower()
    assert core.analyse(ZLIB_NOTICE).expression == "Zlib"
    assert core.process(rec(ZLIB_NOTICE)).action == "keep"


def test_an_old_permission_grant_without_the_word_license_is_named(core):
    assert "licen" not in OLD_GRANT.lower()
    assert core.analyse(OLD_GRANT).expression == "LicenseRef-scancode-boost-original"


def test_ordinary_text_with_the_new_keywords_gets_no_license(core):
    text = ("Copyright 2023 Harbour Lights Bakery. We asked the mayor for permission to open on Sundays; the "
            "oven's warranty covers two years and the leaflets may be redistributed in the town hall.")
    f = core.analyse(text)
    assert f.expression is None
    assert core.process(rec(text)).action == "keep"



def test_labels_use_the_spdx_id_that_license_expression_now_gives_a_scancode_key(core):
    # the reference set was built from an older ScanCode release; license-expression's index (the
    # oracle here) has since given some of its LicenseRef-scancode-* licenses real SPDX ids
    from license_expression import get_license_index

    has_spdx_id = {d["license_key"] for d in get_license_index()
                   if d.get("spdx_license_key") and not d["spdx_license_key"].startswith("LicenseRef-")}
    assert "amd-historical" in has_spdx_id  # the case this guards: SPDX's AMD-newlib
    labels = set(core.matcher.exprs) | set(core.matcher.aliases.values())
    outdated = {e for e in labels for key in re.findall(r"LicenseRef-scancode-([A-Za-z0-9.+-]+)", e) if key in has_spdx_id}
    assert not outdated
    assert "AMD-newlib" in labels and "LicenseRef-scancode-amd-historical" not in labels


def test_a_confidential_and_proprietary_notice_goes_to_review_not_keep(core):
    text = "/* THIS SOFTWARE IS CONFIDENTIAL AND PROPRIETARY, PROPERTY OF BLUEWATER ROBOTICS, LTD. */\nint x;\n"
    assert "licen" not in text.lower()
    assert core.analyse(text).expression is not None
    v = core.process(rec(text))
    assert (v.action, v.reason) == ("quarantine", "license_review")
