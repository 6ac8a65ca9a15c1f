# Sourced by the scripts that build or test: installs the Debian 12 packages shmlua needs,
# only those missing (apt-get as root; otherwise it says what to install).
shmlua_packages=(cmake gcc make libc6-dev lua5.4 liblua5.4-dev lua-busted libreadline-dev
  lua5.1 liblua5.1-0-dev lua5.2 liblua5.2-dev lua5.3 liblua5.3-dev luajit libluajit-5.1-dev
  python3 tmux procps util-linux clang libclang-rt-14-dev
  xxd luarocks pkgconf strace clang-format
  python3-numpy) # NumPy for /usr/bin/python3: the array specs and bench rows compare with it

shmlua_install_deps() {
  local missing=() p
  for p in "${shmlua_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing packages: ${missing[*]} (run as root, or apt-get install them)" >&2
    return 1
  fi
  echo "installing: ${missing[*]}" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

# Configures and builds into $1 with the extra CMake arguments that follow.
shmlua_build() {
  local dir=$1
  shift
  cmake -S . -B "$dir" -DSHMLUA_WERROR=ON "$@" >/dev/null && cmake --build "$dir" -j2 >/dev/null
}
