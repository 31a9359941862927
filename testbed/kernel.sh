# SPDX-License-Identifier: MIT
#
# testbed/kernel.sh, sourced by testbed/run: a Debian kernel package,
# fetched (not installed) into the cache, and checked against what each
# mode of the test bed needs. Uses run's $cache, $DEPMOD, $apt_updated,
# note and die. See testbed/README.md, "Kernels".

# Modules wanted in each mode, in load order, as NAME:CONFIG_SYMBOL; their
# dependencies (the kernel's own modules.dep) are loaded before them. A
# wanted name with no module of its own is skipped when its option is =y
# (built in, or a bool part of another module: VFIO_VIRQFD is part of
# vfio.ko from 6.2 on); when the option is not set the run fails.
tb_mods_iommu=(irqbypass:IRQ_BYPASS_MANAGER vfio:VFIO vfio_iommu_type1:VFIO_IOMMU_TYPE1
	vfio_virqfd:VFIO_VIRQFD vfio-pci-core:VFIO_PCI_CORE vfio-pci:VFIO_PCI)
tb_mods_noiommu=(uio:UIO uio_pci_generic:UIO_PCI_GENERIC)
# Put into the initramfs but not loaded (/modules/extra/, load order in
# /modules/extra/order): the kernel's own nvme driver, which a benchmark
# binds the nvme device to for a side-by-side run. Optional.
tb_mods_extra=(nvme)

# Other options a mode needs, as SYMBOL:ACCEPTED:WHAT (ACCEPTED: values
# separated by commas; "absent" when the kernel's Kconfig has no such
# option at all).
tb_need_all=("PROC_PAGE_MONITOR:y:/proc/self/pagemap, which the phys space reads (CONFIG_PROC_PAGE_MONITOR=y)")
tb_need_iommu=("INTEL_IOMMU:y:the VT-d driver for QEMU's intel-iommu (CONFIG_INTEL_IOMMU=y)"
	"VFIO_CONTAINER:y,absent:/dev/vfio/vfio, the type1 container that dmakit's vfio space opens (CONFIG_VFIO_CONTAINER=y; before 6.2 always part of vfio)")
tb_need_noiommu=()

# The options that matter to dmakit, for the report (tb_kernel_summary).
tb_summary_syms=(VFIO VFIO_IOMMU_TYPE1 VFIO_CONTAINER IOMMUFD VFIO_NOIOMMU VFIO_VIRQFD
	UIO_PCI_GENERIC IO_URING TRANSPARENT_HUGEPAGE PROC_PAGE_MONITOR)

tb_norm() { local s=${1//-/_}; echo "${s%%.ko*}"; }

# tb_kconf CONFIG SYM: the value of CONFIG_SYM in the config file CONFIG
# (y, m, a string), n when "is not set", absent when the file has no line.
tb_kconf() {
	local v
	v=$(sed -n "s/^CONFIG_$2=//p" "$1" | head -n1)
	if [[ -n $v ]]; then
		echo "$v"
	elif grep -q "^# CONFIG_$2 is not set" "$1"; then
		echo n
	else
		echo absent
	fi
}

# tb_kernel_dep META: the linux-image-* package that META depends on, if any
tb_kernel_dep() {
	{ apt-cache depends "$1" 2>/dev/null || true; } |
		awk '$1 == "Depends:" && $2 ~ /^linux-image-/ { print $2; exit }'
}

# tb_kernel_known PKG: true if the apt lists know PKG
tb_kernel_known() { apt-cache show "$1" >/dev/null 2>&1; }

# tb_kernel_resolve META: set tb_kpkg to the versioned package to boot. A
# meta package (linux-image-amd64, linux-image-6.12-amd64) is followed to
# the package it depends on, any other package is taken as it is. The apt
# lists are refreshed (root only, once) when they do not know META or its
# package is not cached yet; offline, the answer an earlier run cached.
tb_kernel_resolve() {
	local meta=$1 dep known=0 memo=$cache/resolved/$1
	dep=$(tb_kernel_dep "$meta")
	tb_kernel_known "$meta" && known=1
	if [[ $apt_updated -eq 0 && $(id -u) -eq 0 ]] &&
		{ [[ $known -eq 0 ]] || [[ ! -f $cache/${dep:-$meta}/ready ]]; }; then
		apt-get update -qq >&2 || note "warning: apt-get update failed"
		apt_updated=1
		dep=$(tb_kernel_dep "$meta")
		known=0
		tb_kernel_known "$meta" && known=1
	fi
	if [[ -n $dep ]]; then
		tb_kpkg=$dep
		mkdir -p "$cache/resolved" && echo "$dep" > "$memo.$$" && mv "$memo.$$" "$memo" ||
			note "warning: cannot write $memo"
	elif [[ $known -eq 1 || -f $cache/$meta/ready ]]; then
		tb_kpkg=$meta
	elif [[ -f $memo && -f $cache/$(cat "$memo")/ready ]]; then
		tb_kpkg=$(cat "$memo")
		note "warning: the apt lists do not know $meta; using $tb_kpkg, which an earlier run resolved it to"
	else
		die "cannot resolve the kernel package '$meta': the apt lists do not know it (apt-get update, or check the name) and no earlier run cached it in $cache"
	fi
}

# tb_mod_copy MODDIR OUT NAME...: the NAMEs that MODDIR/modules.dep has, and
# every module they depend on, decompressed into OUT/<name>.ko, with their
# load order (each after all it depends on) in OUT/order. A NAME that is not
# a module of its own is left out (tb_kernel_check decides about it).
tb_mod_copy() {
	local moddir=$1 out=$2 order name rel src
	shift 2
	mkdir -p "$out" && : > "$out/order" || return 1
	order=$(awk -v want="$(for m in "$@"; do tb_norm "$m"; done | tr '\n' ' ')" '
		function base(p,   b) { b = p; sub(/.*\//, "", b); sub(/\.ko.*/, "", b); gsub(/-/, "_", b); return b }
		{ k = $1; sub(/:$/, "", k); n = base(k); path[n] = k; deps[n] = ""
		  for (i = 2; i <= NF; i++) deps[n] = deps[n] " " base($i) }
		function visit(n,   d, c, i) {
			if (done[n]) return; done[n] = 1
			c = split(deps[n], d, " ")
			for (i = 1; i <= c; i++) visit(d[i])
			print n "\t" path[n]
		}
		END { c = split(want, w, " "); for (i = 1; i <= c; i++) if (w[i] in path) visit(w[i]) }' \
		"$moddir/modules.dep") || return 1
	while IFS=$'\t' read -r name rel; do
		[[ -n $name ]] || continue
		src=$moddir/$rel
		case $src in
		*.ko.xz) xz -dc "$src" ;;
		*.ko.zst) zstd -qdc "$src" ;;
		*.ko.gz) gzip -dc "$src" ;;
		*.ko) cat "$src" ;;
		*) note "unexpected module file $src"; false ;;
		esac > "$out/$name.ko" || { note "cannot read module $src"; return 1; }
		echo "$name" >> "$out/order"
	done <<<"$order"
}

# tb_kernel_build PKG TMP: download PKG into TMP, extract it, run depmod (the
# package ships no modules.dep) and assemble TMP/out as a cache entry.
tb_kernel_build() {
	local pkg=$1 tmp=$2 deb x moddir kver vmlinuz mode w wants names out=$2/out
	( cd "$tmp" && apt-get download -q -o APT::Sandbox::User=root "$pkg" >&2 ) ||
		{ note "apt-get download $pkg failed"; return 1; }
	deb=$(ls "$tmp"/*.deb)
	x=$tmp/x
	dpkg-deb -x "$deb" "$x" || { note "dpkg-deb -x $deb failed"; return 1; }
	moddir=$(find "$x" -type f -name modules.order -path '*/modules/*' -printf '%h\n' | head -n1)
	[[ -n $moddir ]] || { note "no modules directory in $deb"; return 1; }
	kver=$(basename "$moddir")
	vmlinuz=$(find "$x" -type f -name "vmlinuz-$kver" | head -n1)
	[[ -n $vmlinuz ]] || { note "no vmlinuz-$kver in $deb"; return 1; }
	[[ -f $x/boot/config-$kver ]] ||
		{ note "no boot/config-$kver in $deb: cannot check what the kernel has"; return 1; }
	# depmod wants BASE/lib/modules/KVER; the package may ship usr/lib/modules.
	mkdir -p "$tmp/depmod/lib/modules" "$out/modules"
	ln -s "$moddir" "$tmp/depmod/lib/modules/$kver"
	"$DEPMOD" -b "$tmp/depmod" "$kver" || { note "depmod for $kver failed"; return 1; }
	for mode in iommu noiommu; do
		wants="tb_mods_$mode[@]"
		names=()
		for w in "${!wants}"; do names+=("${w%%:*}"); done
		tb_mod_copy "$moddir" "$tmp/$mode" "${names[@]}" || return 1
		mv "$tmp/$mode/order" "$out/modules.load.$mode"
		find "$tmp/$mode" -name '*.ko' -exec mv -t "$out/modules" {} + || return 1
	done
	tb_mod_copy "$moddir" "$out/extra" "${tb_mods_extra[@]}" || return 1
	cp "$out/extra/order" "$out/modules.load.extra"
	cp "$vmlinuz" "$out/vmlinuz"
	cp "$x/boot/config-$kver" "$out/config"
	echo "$kver" > "$out/kernel.version"
	basename "$deb" > "$out/package"
	touch "$out/ready"
}

# tb_kernel_prepare PKG: $cache/PKG with vmlinuz, config, kernel.version,
# package, modules/*.ko and modules.load.{iommu,noiommu}, extra/*.ko and
# modules.load.extra; a no-op when all are there. An entry that an older
# testbed/run left without the config or the extra modules gets them added
# (files are only added, so runs using it meanwhile are not disturbed).
# Call with the cache locked.
tb_kernel_prepare() {
	local pkg=$1 kdir=$cache/$1 tmp
	[[ -f $kdir/ready && -f $kdir/config && -f $kdir/modules.load.extra ]] && return 0
	note "fetching kernel package $pkg (not installing it)"
	tmp=$(mktemp -d "$cache/.prep.XXXXXX") || return 1
	if ! tb_kernel_build "$pkg" "$tmp"; then
		rm -rf "$tmp"
		return 1
	fi
	if [[ -f $kdir/ready ]]; then
		[[ -f $kdir/config ]] || cp "$tmp/out/config" "$kdir/config"
		if [[ ! -f $kdir/modules.load.extra ]]; then
			rm -rf "$kdir/extra"
			mv "$tmp/out/extra" "$kdir/extra"
			cp "$kdir/extra/order" "$kdir/modules.load.extra"
		fi
	else
		rm -rf "$kdir"
		mv "$tmp/out" "$kdir"
	fi
	rm -rf "$tmp"
}

# tb_kernel_check KDIR MODE: dies, naming what is missing, unless the kernel
# in KDIR has what MODE needs (its config and modules). Sets tb_load (the
# modules to load, in order, space separated) and tb_notes (the wanted
# modules that have no module of their own, ';' separated).
tb_kernel_check() {
	local kdir=$1 mode=$2 cfg=$1/config kv boot w name sym v need acc what
	local wants="tb_mods_$mode[@]" needs="tb_need_$mode[@]"
	kv="kernel $(cat "$kdir/kernel.version") ($(cat "$kdir/package"))"
	if [[ $mode == iommu ]]; then boot="the IOMMU boot"; else boot="the no-IOMMU boot (--no-iommu)"; fi
	[[ -f $cfg ]] || die "$kv: no config in $kdir"
	tb_load=$(grep -v '^#' "$kdir/modules.load.$mode" | tr '\n' ' ')
	tb_notes=
	for w in "${!wants}"; do
		name=$(tb_norm "${w%%:*}")
		sym=${w#*:}
		[[ " $tb_load " == *" $name "* ]] && continue
		v=$(tb_kconf "$cfg" "$sym")
		case $v in
		y) tb_notes+="$name: CONFIG_$sym=y, no module of its own;" ;;
		m) die "$kv: CONFIG_$sym=m but the package has no module $name; $boot needs it" ;;
		n) die "$kv has no $name (CONFIG_$sym is not set); $boot needs it" ;;
		*) die "$kv has no $name (its config has no CONFIG_$sym); $boot needs it" ;;
		esac
	done
	for need in "${tb_need_all[@]}" "${!needs}"; do
		sym=${need%%:*}
		acc=${need#*:}
		what=${acc#*:}
		acc=${acc%%:*}
		v=$(tb_kconf "$cfg" "$sym")
		[[ ,$acc, == *,$v,* ]] ||
			die "$kv has CONFIG_$sym=$v; $boot needs $what"
	done
}

# tb_kernel_summary KDIR: the options that matter to dmakit, on one line
tb_kernel_summary() {
	local s line=
	for s in "${tb_summary_syms[@]}"; do
		line+=" $s=$(tb_kconf "$1/config" "$s")"
	done
	echo "${line# }"
}
