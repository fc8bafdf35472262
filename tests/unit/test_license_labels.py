"""Stage `license`: the right id, not its neighbour's, and no extra ids from inside a license.

Each case is written here (or is a real license text on this Debian image) with the expected id
known from how the case is built: a standard header whose license name or version was changed, a
GNU notice without "or any later version", a list of license names, a warranty sentence next to a
license, the OFL with and without a Reserved Font Name header, a license page in HTML. Every
relabelling rule is also checked never to give a label the policy treats better than the one it
replaces.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipeline.compliance.policy import ALLOWED
from tests.unit.license_support import _common, core  # noqa: F401 - core is a fixture

APACHE_HEADER = """Licensed under the {name}, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    {url}

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
"""

MOZILLA_HEADER = """The contents of this file are subject to the {name} Version 1.1 (the "License"); you may
not use this file except in compliance with the License. You may obtain a copy of the License at
http://www.mozilla.org/MPL/

Software distributed under the License is distributed on an "AS IS" basis, WITHOUT WARRANTY OF ANY
KIND, either express or implied. See the License for the specific language governing rights and
limitations under the License.

The Original Code is the Quill parser library.

The Initial Developer of the Original Code is Ana Lindqvist. Portions created by the Initial
Developer are Copyright (C) 2001 the Initial Developer. All Rights Reserved.
"""

GPL_HEADER = """This program is free software: you can redistribute it and/or modify
it under the terms of the {name} as published by
the Free Software Foundation{version}.

This program is distributed in the hope that it will be useful,
but WITHOUT ANY WARRANTY; without even the implied warranty of
MERCHANTABILITY or FITNESS FOR A PARTICULAR PURPOSE.  See the
GNU General Public License for more details.

You should have received a copy of the GNU General Public License
along with this program.  If not, see <https://www.gnu.org/licenses/>.
"""

LGPL_HEADER = """This library is free software; you can redistribute it and/or
modify it under the terms of the GNU Lesser General Public
License as published by the Free Software Foundation; either
version {version} of the License, or (at your option) any later version.

This library is distributed in the hope that it will be useful,
but WITHOUT ANY WARRANTY; without even the implied warranty of
MERCHANTABILITY or FITNESS FOR A PARTICULAR PURPOSE.  See the GNU
Lesser General Public License for more details.
"""

WARRANTY_SENTENCE = (
    "This program is distributed in the hope that it will be useful, but WITHOUT ANY WARRANTY; without "
    "even the implied warranty of MERCHANTABILITY or FITNESS FOR A PARTICULAR PURPOSE.\n"
)


def _status(core, expr):
    return core.policies.base.status(core.normalizer.parse(expr))


# -- a changed header names its own license or version ------------------------------------------
def test_apache_header_naming_another_license_is_that_license(core):
    plain = APACHE_HEADER.format(name="Apache License", url="http://www.apache.org/licenses/LICENSE-2.0")
    assert core.analyse(plain).expression == "Apache-2.0"
    ecl = APACHE_HEADER.format(name="Educational Community License", url="http://opensource.org/licenses/ECL-2.0")
    assert core.analyse(ecl).expression == "ECL-2.0"


def test_mozilla_header_naming_netscape_is_npl(core):
    assert core.analyse(MOZILLA_HEADER.format(name="Mozilla Public License")).expression == "MPL-1.1"
    assert core.analyse(MOZILLA_HEADER.format(name="Netscape Public License")).expression == "NPL-1.1"


@pytest.mark.parametrize("version, spdx", [("2.1", "LGPL-2.1-or-later"), ("3", "LGPL-3.0-or-later"), ("2", "LGPL-2.0-or-later")])
def test_lgpl_header_version_is_the_stated_one(core, version, spdx):
    assert core.analyse(LGPL_HEADER.format(version=version)).expression == spdx
    # Debian's pointer to the full text names the version without "or later": still the header's license
    pointer = ("\nOn Debian systems, the complete text of the GNU Lesser General Public License version "
               f"{version} can be found in /usr/share/common-licenses/LGPL-{version}.\n")
    assert core.analyse(LGPL_HEADER.format(version=version) + pointer).expression == spdx


@pytest.mark.parametrize("version, spdx", [
    (", either version 3 of the License, or\n(at your option) any later version", "GPL-3.0-or-later"),
    (", version 3 of the License", "GPL-3.0-only"),  # no "or any later version": that version only
    ("; either version 2 of the License, or\n(at your option) any later version", "GPL-2.0-or-later"),
])
def test_gpl_header_only_or_later_as_written(core, version, spdx):
    assert core.analyse(GPL_HEADER.format(name="GNU General Public License", version=version)).expression == spdx


def test_changed_header_never_takes_a_more_permissive_name(core):
    """A GPL header whose license name was replaced by an allowed license's name keeps the GPL (the
    changed words do not turn a review license into an allowed one)."""
    text = GPL_HEADER.format(name="Apache License Version 2.0", version=", either version 3 of the License, or any later version")
    expr = core.analyse(text).expression
    assert "GPL-3.0" in expr
    assert _status(core, expr) != ALLOWED


# -- a text quoting another license is the containing license -------------------------------------
def _dep5_body(package: str, short_name: str) -> str:
    """The text of a stand-alone ``License: <short_name>`` paragraph of a Debian copyright file."""
    path = Path(f"/usr/share/doc/{package}/copyright")
    if not path.is_file():
        pytest.skip(f"{path} (package {package}) is not on this image")
    text = path.read_text(encoding="utf-8")
    start = text.find(f"License: {short_name}\n")
    assert start >= 0, f"the {short_name} paragraph moved in {path}"
    lines = []
    for line in text[start:].splitlines()[1:]:
        if not line.startswith(" "):
            break
        lines.append("" if line.strip() == "." else line.strip())
    return "\n".join(lines)


def test_full_text_quoting_another_license_is_named_once(core):
    """The OpenSSL license quotes the SSLeay (BSD-4-Clause-UC-like) conditions, whose words then stand
    twice in the document: one id, the container's."""
    assert core.analyse(_dep5_body("libarchive13", "OpenSSL+SSLeay")).expression == "OpenSSL"


def test_gpl_or_later_header_above_gpl_text_still_counts(core):
    """The exception kept: a license's own notice standing above its full text."""
    header = GPL_HEADER.format(name="GNU General Public License", version="; either version 2 of the License, or\n(at your option) any later version")
    assert core.analyse(header + "\n\n" + _common("GPL-2")).expression == "GPL-2.0-or-later"


# -- lists of license names -----------------------------------------------------------------------
LICENSE_TABLE = """| Choice | Identifier |
|---|---|
| permissive | MIT |
| permissive with patents | Apache-2.0 |
| BSD | BSD-3-Clause |
| weak copyleft | MPL-2.0 |
| strong copyleft | GPL-3.0-or-later |
| network copyleft | AGPL-3.0-only |
"""


def test_list_of_license_names_licenses_nothing(core):
    assert core.analyse("Pick a license for your project:\n\n" + LICENSE_TABLE).expression is None


def test_list_of_names_next_to_a_statement_keeps_the_statement(core):
    text = "This tool is licensed under the MIT License.\n\nIt can write any of these:\n\n" + LICENSE_TABLE
    assert core.analyse(text).expression == "MIT"


def test_two_names_are_no_list(core):
    text = "Licensed under either the MIT License or the Apache License, Version 2.0, at your option."
    assert core.analyse(text).expression == "Apache-2.0 OR MIT"


# -- a warranty sentence is part of the license next to it ----------------------------------------
def test_warranty_sentence_next_to_a_license_is_that_license(core):
    text = "Released under the W3C Software Notice and License.\n\n" + WARRANTY_SENTENCE
    assert core.analyse(text).expression == "W3C"


def test_warranty_sentence_is_not_dropped_to_make_a_text_allowed(core):
    """Next to an allowed license the sentence's own (review) id stays: dropping it would change the
    status to allowed. Likewise next to the GPL, which a per-source override allows."""
    expr = core.analyse("Released under the MIT License.\n\n" + WARRANTY_SENTENCE).expression
    assert expr != "MIT" and _status(core, expr) != ALLOWED
    gpl = core.analyse("Released under the GNU General Public License version 2.\n\n" + WARRANTY_SENTENCE).expression
    assert "GPL-2.0-only" in gpl and gpl != "GPL-2.0-only"


# -- OFL twins ------------------------------------------------------------------------------------
def _ofl_body() -> str:
    body = _dep5_body("gir1.2-pango-1.0", "OFL-1.1")
    return body[body.find("SIL OPEN FONT LICENSE"):]


@pytest.mark.parametrize("header, spdx", [
    ("Copyright (c) 2014, Ana Lindqvist.\n", "OFL-1.1"),
    ("Copyright (c) 2014, Ana Lindqvist, with Reserved Font Name <Reserved Font Name>.\n", "OFL-1.1"),  # a placeholder
    ("Copyright (c) 2014, Ana Lindqvist, with Reserved Font Name Quillsans.\n", "OFL-1.1-RFN"),
    ("Copyright (c) 2014, Ana Lindqvist, with no Reserved Font Name for this Font Software.\n", "OFL-1.1-no-RFN"),
])
def test_ofl_reserved_font_name_as_stated(core, header, spdx):
    intro = ("This Font Software is licensed under the SIL Open Font License, Version 1.1.\n"
             "This license is copied below, and is also available with a FAQ at: http://scripts.sil.org/OFL\n\n")
    expr = core.analyse(header + intro + _ofl_body()).expression
    assert expr == spdx


# -- markup is no wording of its own --------------------------------------------------------------
def _html(text: str) -> str:
    paras = [p for p in text.split("\n\n") if p.strip()]
    return ("<html><head><meta http-equiv=\"content-type\" content=\"text/html; charset=iso-8859-1\"></head><body>\n"
            + "\n".join(f'<p><font size="2" color="#0000ff"></font><font size="2">{p}</font></p>\n<p><font size="2"></font></p>'
                        for p in paras) + "\n</body></html>")


def test_license_page_in_html_is_the_license(core):
    mpl = _common("MPL-1.1")
    assert core.analyse(mpl).expression == "MPL-1.1"
    assert core.analyse(_html(mpl)).expression == "MPL-1.1"


def test_clause_added_to_a_license_page_in_html_is_still_a_variant(core):
    paras = _common("MPL-1.1").split("\n\n")
    clause = ("Any Modification must in addition be reported in writing to the Initial Developer within thirty days "
              "of its first distribution, together with the name and postal address of the distributor.")
    changed = "\n\n".join(paras[:10] + [clause] + paras[10:])
    expr = core.analyse(_html(changed)).expression
    assert expr is not None and "variant-of-MPL-1.1" in expr
    assert re.fullmatch(r"LicenseRef-curate-(?:restricted-)?variant-of-MPL-1\.1", expr)


# -- variants: only real legal wording makes one --------------------------------------------------
def _mpl_paragraphs() -> list[str]:
    return _common("MPL-1.1").split("\n\n")


NAME_CHANGE_NOTE = ("Editor's note: in March 2004 the Lumen company changed its corporate name from Lumen Works "
                    "to Lumen Group. This change is reflected below and the years were updated, and nothing else "
                    "was changed in the text that follows here.")
ADDED_CLAUSE = ("Each Contributor must in addition send a written report of every Modification to the Initial "
                "Developer within thirty days of its first distribution, together with the name and the postal "
                "address of the distributor.")


def test_note_between_title_and_body_is_no_variant(core):
    paras = _mpl_paragraphs()
    assert core.analyse("\n\n".join(paras[:2] + [NAME_CHANGE_NOTE] + paras[2:])).expression == "MPL-1.1"


def test_clause_with_legal_wording_in_the_same_place_is_a_variant(core):
    paras = _mpl_paragraphs()
    expr = core.analyse("\n\n".join(paras[:2] + [ADDED_CLAUSE] + paras[2:])).expression
    assert re.fullmatch(r"LicenseRef-curate-(?:restricted-)?variant-of-MPL-1\.1", expr or "")


def test_long_text_lacking_part_of_its_preamble_is_no_variant(core):
    """Three paragraphs of the GPL's preamble missing (in the first tenth of the text, before the
    terms): a shortened copy, not a removed clause."""
    paras = _common("GPL-2").split("\n\n")
    start = next(i for i, p in enumerate(paras) if "When we speak of free software" in p)
    end = next(i for i, p in enumerate(paras) if "We protect your rights" in p)
    assert sum(len(p.split()) for p in paras[start:end]) >= 100  # far longer than a removed clause needs
    assert core.analyse("\n\n".join(paras[:start] + paras[end:])).expression == "GPL-2.0-only"


def test_long_text_lacking_a_clause_in_its_body_is_a_variant(core):
    paras = _mpl_paragraphs()
    middle = next(i for i, p in enumerate(paras) if p.strip().startswith("3.4."))  # Intellectual Property Matters
    assert sum(len(p.split()) for p in paras[middle:middle + 2]) >= 40
    expr = core.analyse("\n\n".join(paras[:middle] + paras[middle + 2:])).expression
    assert re.fullmatch(r"LicenseRef-curate-(?:restricted-)?variant-of-MPL-1\.1", expr or "")


# -- a name right after a whole license text ------------------------------------------------------
def test_name_in_the_appendix_of_a_license_text_is_part_of_it(core):
    text = _common("MPL-1.1") + "\n\nAppendix\n\nLicences compatible with this one:\n\n- Eclipse Public License v. 1.0\n"
    assert core.analyse(text).expression == "MPL-1.1"


def test_name_after_a_more_permissive_text_is_kept(core):
    """After the (allowed) Apache text a name of a license held for review stays: leaving it out would
    let the document through."""
    text = _common("Apache-2.0") + "\n\nThis file is also covered by the GNU General Public License version 3.\n"
    expr = core.analyse(text).expression
    assert "GPL-" in expr and _status(core, expr) != ALLOWED
