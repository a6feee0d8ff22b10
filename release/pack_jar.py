"""Writes the release jar: the classes of the jar build.rs made, plus each native library under
io/sparkprom/native/<platform>/libsparkprom.so, where NativeLoader looks for it, and the license
and the third-party notices of what the libraries link under META-INF/.

The output depends on the inputs only: entries in a fixed order (the manifest first, as `jar`
expects, then by name), one timestamp (SOURCE_DATE_EPOCH, else 1980-01-01) and fixed
permissions, so two builds of one commit give the same bytes.

usage: pack_jar.py CLASSES_JAR OUTPUT_JAR PLATFORM=LIBRARY [PLATFORM=LIBRARY ...]
"""
import os
import sys
from pathlib import Path
import time
import zipfile

MANIFEST = "META-INF/MANIFEST.MF"
RESOURCE_DIR = "io/sparkprom/native/"
REPO = Path(__file__).resolve().parent.parent
LEGAL = {"META-INF/LICENSE": REPO / "LICENSE", "META-INF/THIRD-PARTY-NOTICES.md": REPO / "THIRD-PARTY-NOTICES.md"}
ZIP_EPOCH = 315532800  # 1980-01-01T00:00:00Z, the earliest time a zip entry can hold


def entry(name, epoch):
    info = zipfile.ZipInfo(name, date_time=time.gmtime(max(epoch, ZIP_EPOCH))[:6])
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = (0o755 if name.endswith("/") else 0o644) << 16
    info.create_system = 3  # unix, whatever the building machine is
    return info


def pack(classes_jar, output_jar, libraries, epoch):
    with zipfile.ZipFile(classes_jar) as source:
        contents = {name: source.read(name) for name in source.namelist() if not name.endswith("/")}
    for platform, library in libraries.items():
        with open(library, "rb") as f:
            contents[f"{RESOURCE_DIR}{platform}/libsparkprom.so"] = f.read()
    for name, path in LEGAL.items():
        contents[name] = path.read_bytes()
    if MANIFEST not in contents:
        sys.exit(f"pack_jar: {classes_jar} has no {MANIFEST}")
    names = [MANIFEST] + sorted(name for name in contents if name != MANIFEST)
    temporary = output_jar + ".tmp"
    with zipfile.ZipFile(temporary, "w") as out:
        for name in names:
            out.writestr(entry(name, epoch), contents[name], compresslevel=9)
    os.replace(temporary, output_jar)


def main(argv):
    if len(argv) < 4 or not all("=" in arg for arg in argv[3:]):
        sys.exit(__doc__)
    libraries = dict(arg.split("=", 1) for arg in argv[3:])
    epoch = int(os.environ.get("SOURCE_DATE_EPOCH", ZIP_EPOCH))
    pack(argv[1], argv[2], libraries, epoch)


if __name__ == "__main__":
    main(sys.argv)
