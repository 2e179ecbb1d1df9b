# Sourced by ci/debug_build.sh and ci/asan.sh: copy_source ROOT DEST copies the
# tracked and new files of the work tree into DEST, never build products
# (.so, .c, build/), so a sanitized or debug build starts from source only.
copy_source() {
    local root="$1" dest="$2"
    rm -rf "$dest"
    mkdir -p "$dest"
    if git -C "$root" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        git -C "$root" ls-files -z --cached --others --exclude-standard \
            | (cd "$root" && xargs -0 tar -cf - --ignore-failed-read 2>/dev/null) \
            | tar -xf - -C "$dest"
    else
        (cd "$root" && tar -cf - --exclude='*.so' --exclude='_kernels.c' --exclude=build \
            --exclude='.venv*' --exclude='.git' .) | tar -xf - -C "$dest"
    fi
}
