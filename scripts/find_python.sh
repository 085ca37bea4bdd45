#!/usr/bin/env bash
# Print the path of a Python 3.10 interpreter: $PYTHON if set, else python3.10 on PATH, else a pyenv 3.10.x.
# lava-nc 0.10.0 and lava-dl 0.6.0 install on Python 3.10 only.
set -u
is_310() { "$1" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))' 2>/dev/null; }
if [ -n "${PYTHON:-}" ]; then
    if is_310 "$PYTHON"; then echo "$PYTHON"; exit 0; fi
    ver=$("$PYTHON" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])' 2>/dev/null || echo "not runnable")
    echo "loihi_snn needs Python 3.10 (lava-nc 0.10 / lava-dl 0.6 support nothing else), but PYTHON=$PYTHON is $ver: point PYTHON at a 3.10 interpreter or unset it." >&2
    exit 1
fi
for cand in "$(command -v python3.10 2>/dev/null)" \
            $(ls -d "$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")"/versions/3.10.*/bin/python 2>/dev/null | sort -rV); do
    if [ -n "$cand" ] && is_310 "$cand"; then echo "$cand"; exit 0; fi
done
echo "loihi_snn needs Python 3.10 and found none: install it (e.g. 'pyenv install 3.10' or 'apt-get install python3.10') or set PYTHON=/path/to/python3.10." >&2
exit 1
