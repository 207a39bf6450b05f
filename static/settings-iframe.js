// Initialises Pipedrive's App Extensions SDK on the settings page shown in Pipedrive's iframe.
// Pipedrive shows the iframe only once the SDK has been initialised with the runtime id it put in
// the iframe's URL (within 10 seconds); the server copies that id into #pipedrive-sdk, which also
// survives the redirect after a save.
(function () {
  "use strict";
  var holder = document.getElementById("pipedrive-sdk");
  var identifier = holder && holder.getAttribute("data-identifier");
  if (!identifier || typeof window.AppExtensionsSDK !== "function") {
    return;
  }
  try {
    new window.AppExtensionsSDK({ identifier: identifier })
      .initialize()
      .catch(function (error) {
        console.warn("Pipedrive's SDK did not initialise:", error);
      });
  } catch (error) {
    console.warn("Pipedrive's SDK could not start:", error);
  }
})();
