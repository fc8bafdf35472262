#!/bin/sh
# Benchmark setup (`make bench-setup`): the real-text corpus sources and datatrove's own venv.
#
# 1. Debian documentation packages in several languages (Korean, Japanese, Chinese, English, German,
#    French, Spanish …): HTML manuals, FAQs and man pages. benchmarks/corpus.py cuts them into
#    documents; no text of ours goes into the corpus. Needs apt-get (root); skipped when the
#    packages are already there.
# 2. .venv-datatrove: datatrove from PyPI (pinned) with the extras its LanguageFilter (fasttext),
#    PIIFormatter, MinHash dedup (spaCy word tokenizer, xxhash) and ParquetWriter (pyarrow) need.
set -eu
PYTHON=${PYTHON:-python3.11}
DT_VENV=${DT_VENV:-.venv-datatrove}
DATATROVE_VERSION=${DATATROVE_VERSION:-0.10.1}

DOC_PACKAGES="debian-reference-en debian-reference-de debian-reference-fr debian-reference-es
  debian-reference-it debian-reference-ja debian-reference-zh-cn debian-reference-zh-tw debian-reference-pt
  debian-faq debian-faq-ko debian-faq-ja debian-faq-zh-cn debian-faq-de debian-faq-fr debian-faq-ru
  gimp-help-ko gimp-help-en gimp-help-ja gimp-help-de gimp-help-fr gimp-help-es gimp-help-zh-cn gimp-help-ru
  maint-guide maint-guide-ja maint-guide-zh-cn maint-guide-de maint-guide-fr
  developers-reference developers-reference-ja developers-reference-de
  manpages-ja manpages-de manpages-fr manpages-es manpages-zh
  libreoffice-help-ko"

missing=""
for pkg in $DOC_PACKAGES; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
  echo "bench-setup: installing Debian documentation packages:$missing"
  if [ "$(id -u)" != 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  # gimp-help-* depend on a www-browser: w3m is the smallest.
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends w3m $missing >/dev/null
fi

if [ ! -f "$DT_VENV/.installed-$DATATROVE_VERSION" ]; then
  echo "bench-setup: creating $DT_VENV (datatrove $DATATROVE_VERSION)"
  test -x "$DT_VENV/bin/python" || "$PYTHON" -m venv "$DT_VENV"
  "$DT_VENV/bin/python" -m pip install -q --upgrade pip wheel
  "$DT_VENV/bin/python" -m pip install -q "datatrove[io,processing]==$DATATROVE_VERSION" "spacy>=3.8,<3.9" psutil
  touch "$DT_VENV/.installed-$DATATROVE_VERSION"
fi
echo "bench-setup: ok"
