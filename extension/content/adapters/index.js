// Every site adapter, and the settings that switch them on. Built-in adapters are on unless the
// shop switches them off; the generic one is on once its selectors are filled in.
import demo from "./demo.js";
import { genericAdapter } from "./generic.js";
import jd from "./jd.js";
import pinduoduo from "./pinduoduo.js";
import qianniu from "./qianniu.js";

export const BUILT_IN = [qianniu, jd, pinduoduo, demo];

/** The adapters for these settings ({"huashu.adapters": {id: bool}, "huashu.generic": {...}}). */
export function adaptersFor(settings) {
  const generic = genericAdapter(settings["huashu.generic"]);
  return generic ? [generic, ...BUILT_IN] : BUILT_IN;
}
