// STAC Browser build configuration for sathub (used by scripts/build-stac-browser.sh).
// What depends on where sathub is served (catalogUrl, pathPrefix, the tile-URL builder) is
// set at run time by src/sathub/api/static/browser/config.js, which sathub loads before the
// app; everything here is fixed at build time.
module.exports = {
    catalogUrl: null, // run time: the server's own root
    catalogTitle: "sathub",
    catalogImage: null,
    allowExternalAccess: false, // browse this installation only
    allowedDomains: [],
    detectLocaleFromBrowser: true,
    storeLocale: true,
    locale: "en",
    fallbackLocale: "en",
    supportedLocales: ["de", "ar", "es", "en", "fr", "it", "ro", "ja", "pt", "id", "pl"],
    apiCatalogPriority: null,
    useTileLayerAsFallback: false,
    displayGeoTiffByDefault: false,
    displayPreview: true,
    // Imagery comes from sathub's tile server (the items' web-map links carry the default
    // rendering), not from decoding GeoTIFFs in the browser.
    displayOverview: false,
    buildTileUrlTemplate: null, // run time
    getMapSourceOptions: null,
    pathPrefix: "./", // relative asset URLs; the router base is set at run time
    historyMode: "history",
    cardViewMode: "cards",
    cardViewSort: "asc",
    showKeywordsInItemCards: false,
    showKeywordsInCatalogCards: false,
    showThumbnailsAsAssets: false,
    searchResultsPerPage: null,
    itemsPerPage: null,
    collectionsPerPage: null,
    maxEntriesPerPage: 1000,
    defaultThumbnailSize: null,
    crossOriginMedia: null,
    requestHeaders: {},
    requestQueryParameters: {},
    socialSharing: [], // no links to outside services
    preprocessSTAC: null,
    authConfig: null,
    crs: {},
    footerLinks: null
};
