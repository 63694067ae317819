#!/usr/bin/env bash
# Regenerates what is generated from the markers of api/v1alpha1 with
# controller-gen (built into .cache/tools/bin by hack/build-tools.sh):
# the DeepCopy methods (api/v1alpha1/zz_generated.deepcopy.go) and one CRD
# per kind (config/crd/bases/). `make generate` runs it.
#
# Usage: hack/generate.sh [OBJECT_DIR CRD_DIR]
#   OBJECT_DIR CRD_DIR   write the DeepCopy file and the CRDs there instead
#                        (the staleness test compares them with the committed ones)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
gen="$root/.cache/tools/bin/controller-gen"
if [ ! -x "$gen" ]; then
	echo "hack/generate.sh: $gen missing: run hack/build-tools.sh (make deps)" >&2
	exit 1
fi

case $# in
0)
	object_out=""
	crd_out="output:crd:artifacts:config=config/crd/bases"
	;;
2)
	object_out="output:object:dir=$1"
	crd_out="output:crd:dir=$2"
	;;
*)
	echo "usage: hack/generate.sh [OBJECT_DIR CRD_DIR]" >&2
	exit 2
	;;
esac

cd "$root"
export GOTOOLCHAIN=local
# The CRDs keep the descriptions of every field (kubectl explain), so the
# Release CRD is larger than client-side kubectl apply allows: install with
# server-side apply (docs/kubernetes.md).
# generateEmbeddedObjectMeta: the metadata of a Release service's pod template
# has a schema, so that the API server keeps its labels and annotations.
"$gen" object paths=./api/... $object_out crd:generateEmbeddedObjectMeta=true paths=./api/... $crd_out
