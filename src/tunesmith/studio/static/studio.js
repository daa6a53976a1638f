// tunesmith studio: what every page shares. Pages add their own small scripts.
"use strict";
window.studio = {
  // The page's language, for numbers and dates shown by scripts.
  lang: document.documentElement.lang,
};
