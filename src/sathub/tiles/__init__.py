"""Dynamic map tiles on rio-tiler: rendering parameters, band-math expressions, per-item
rendering (tiles, previews, crops, points, statistics), mosaics of searches, WMTS/TileJSON."""
