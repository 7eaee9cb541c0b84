# Loads an export directory the way a user would, with Hugging Face `datasets` (its dataset card names
# the splits and, for JSON Lines, the features), and prints each split's rows as JSON for the test to
# check. Exits non-zero, with the reason, when `datasets` cannot load it.
import json
import shutil
import sys
import tempfile

import datasets

# A cache of its own: datasets' shared cache can answer for an earlier directory of the same name.
cache = tempfile.mkdtemp(prefix="autovibe-hf-")
loaded = datasets.load_dataset(sys.argv[1], cache_dir=cache)
out = {}
for split, ds in loaded.items():
    out[split] = {"features": str(ds.features), "rows": ds.to_list()}
json.dump(out, sys.stdout, default=str)
shutil.rmtree(cache, ignore_errors=True)
