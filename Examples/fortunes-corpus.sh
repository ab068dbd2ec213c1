#!/usr/bin/env sh
# Writes Debian's fortune cookie files (apt-get install fortunes) as a JSON Lines corpus:
# one {"id": "file/n", "text": ...} per fortune, lines joined by spaces (backslashes become /). A real English text
# corpus that no one here wrote, for `influence index`, `fit` and `trace`.
#
#   Examples/fortunes-corpus.sh > fortunes.jsonl
set -eu
dir=${FORTUNES:-/usr/share/games/fortunes}
[ -d "$dir" ] || { echo "error: $dir not found (apt-get install fortunes)" >&2; exit 1; }
for file in "$dir"/*; do
  case "$file" in *.dat|*.u8) continue ;; esac
  [ -f "$file" ] && [ ! -L "$file" ] || continue
  iconv -f utf-8 -t utf-8 -c "$file" | awk -v name="$(basename "$file")" '
    function flush() {
      gsub(/^ +| +$/, "", text)
      if (text != "") { n++; printf "{\"id\": \"%s/%d\", \"text\": \"%s\"}\n", name, n, text }
      text = ""
    }
    /^%$/ { flush(); next }
    {
      line = $0
      gsub(/\\/, "/", line)
      gsub(/"/, "\\\"", line); gsub(/\t/, " ", line); gsub(/[[:cntrl:]]/, "", line)
      text = (text == "" ? line : text " " line)
    }
    END { flush() }'
done
