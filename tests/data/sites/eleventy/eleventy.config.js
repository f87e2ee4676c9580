// Eleventy v3 configuration (https://www.11ty.dev/docs/config/).
export default function (eleventyConfig) {
  // Static images: img/ is copied to _site/img/, and images beside posts keep their folder.
  // https://www.11ty.dev/docs/copy/
  eleventyConfig.addPassthroughCopy("img");
  eleventyConfig.addPassthroughCopy("posts/**/*.png");

  // Drafts: skipped in `eleventy` builds, kept in `eleventy --serve`.
  // https://www.11ty.dev/docs/config-preprocessors/
  eleventyConfig.addPreprocessor("drafts", "*", (data, content) => {
    if (data.draft && process.env.ELEVENTY_RUN_MODE === "build") {
      return false;
    }
  });
}
