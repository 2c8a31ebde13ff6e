"""The companion reconciler: waits for clusters, renders add-on bundles, applies and keeps them."""
