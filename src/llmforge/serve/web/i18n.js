// The page's words in English and Arabic. The language comes from a choice made with the toggle
// (kept in localStorage: a preference, not a credential), else from the browser's language.
const STRINGS = {
  en: {
    nav_ask: "Ask", nav_search: "Search", nav_documents: "Documents", nav_admin: "Admin",
    sections: "Sections", sign_in: "Sign in", sign_out: "Sign out", user_name: "User name", password: "Password",
    memory_note: "Your session lives in this page only: reloading or closing it signs you out.",
    signed_in_as: "{user} ({role})", session_ended: "Your session has ended: sign in again.",
    question: "Question", agent: "Agent", ask: "Ask",
    searching: "Looking for passages…", answering: "Answering…", retrying: "Asking once more, with one document…",
    answered: "{seconds} s, first words after {first} s · {model}", refused: "Not in the documents",
    reason: "Reason: {reason}", citations: "Citations", page_short: "p. {page}", pages_short: "pp. {start}–{end}",
    query: "Query", mode: "Mode", results_k: "Results", search: "Search", no_results: "No passage found.",
    found: "{count} passages in {ms} ms", back: "Back", download_original: "Download the original",
    previous_page: "Previous page", next_page: "Next page", page_of: "Page {page} of {count}",
    read_by: "read by {method}", confidence: "OCR confidence {value}", language: "language {value}",
    files: "Files", upload: "Upload", uploading: "Uploading…", job: "{files}: {state} {progress} {message}",
    job_failed_file: "{file}: {reason}",
    col_title: "Title", col_status: "Status", col_pages: "Pages", col_languages: "Languages",
    col_method: "Read by", col_confidence: "OCR confidence", col_actions: "Actions",
    delete: "Delete", confirm_delete: "Delete for good", cancel: "Cancel", deleted: "Deleted {name}.",
    audit: "Audit log", verify: "Verify", audit_ok: "The audit chain is intact: {count} records, verified now.",
    audit_bad: "The audit chain is broken at record {seq}: {reason}",
    users: "Users", role: "Role", add_user: "Add user", active: "active", disabled: "disabled",
    disable: "Disable", enable: "Enable", keys: "API keys", key_name: "Key name", owner: "Owner",
    expires_days: "Expires after (days)", create_key: "Create key", key_prefix: "Prefix", expires: "Expires",
    never: "never", revoke: "Revoke", confirm_revoke: "Revoke for good", revoked: "revoked", expired: "expired",
    key_once: "The new key, shown this once: copy it now.",
    usage: "Usage", usage_by_key: "By API key", usage_by_user: "By user", requests: "Requests",
    prompt_tokens: "Prompt tokens", completion_tokens: "Completion tokens", errors: "Errors",
    avg_latency: "Mean latency (ms)", nobody: "(none)", error: "Error: {message}", other_language: "العربية",
    reason_no_relevant_passage: "no passage in the documents is about the question",
    reason_the_model_found_no_answer: "the model found no answer in the passages",
    reason_answer_not_in_the_passages: "the answer is not in the passages",
    "reason_the_passages_with_the_answer_are_not_about_the_question":
      "the passages holding the answer are not about the question",
  },
  ar: {
    nav_ask: "اسأل", nav_search: "بحث", nav_documents: "المستندات", nav_admin: "الإدارة",
    sections: "الأقسام", sign_in: "تسجيل الدخول", sign_out: "تسجيل الخروج", user_name: "اسم المستخدم",
    password: "كلمة المرور",
    memory_note: "جلستك محفوظة في هذه الصفحة فقط: إعادة تحميلها أو إغلاقها يُنهي الجلسة.",
    signed_in_as: "{user} ({role})", session_ended: "انتهت جلستك: سجّل الدخول مجدداً.",
    question: "السؤال", agent: "الوكيل", ask: "اسأل",
    searching: "جارٍ البحث عن المقاطع…", answering: "جارٍ توليد الإجابة…",
    retrying: "إعادة السؤال مع مستند واحد…",
    answered: "{seconds} ث، أول الكلمات بعد {first} ث · {model}", refused: "غير موجود في المستندات",
    reason: "السبب: {reason}", citations: "المراجع", page_short: "ص {page}", pages_short: "ص {start}–{end}",
    query: "عبارة البحث", mode: "النمط", results_k: "عدد النتائج", search: "ابحث", no_results: "لم يُعثر على أي مقطع.",
    found: "{count} مقاطع في {ms} مللي ثانية", back: "رجوع", download_original: "تنزيل الملف الأصلي",
    previous_page: "الصفحة السابقة", next_page: "الصفحة التالية", page_of: "الصفحة {page} من {count}",
    read_by: "طريقة القراءة: {method}", confidence: "ثقة التعرف الضوئي {value}", language: "اللغة: {value}",
    files: "الملفات", upload: "رفع", uploading: "جارٍ الرفع…", job: "{files}: {state} {progress} {message}",
    job_failed_file: "{file}: {reason}",
    col_title: "العنوان", col_status: "الحالة", col_pages: "الصفحات", col_languages: "اللغات",
    col_method: "طريقة القراءة", col_confidence: "ثقة التعرف الضوئي", col_actions: "الإجراءات",
    delete: "حذف", confirm_delete: "تأكيد الحذف", cancel: "إلغاء", deleted: "حُذف {name}.",
    audit: "سجل التدقيق", verify: "تحقّق", audit_ok: "سلسلة التدقيق سليمة: {count} سجلاً، تم التحقق الآن.",
    audit_bad: "سلسلة التدقيق مكسورة عند السجل {seq}: {reason}",
    users: "المستخدمون", role: "الدور", add_user: "إضافة مستخدم", active: "مفعّل", disabled: "معطّل",
    disable: "تعطيل", enable: "تفعيل", keys: "مفاتيح الواجهة البرمجية", key_name: "اسم المفتاح", owner: "المالك",
    expires_days: "تنتهي بعد (أيام)", create_key: "إنشاء مفتاح", key_prefix: "البادئة", expires: "الانتهاء",
    never: "أبداً", revoke: "إبطال", confirm_revoke: "تأكيد الإبطال", revoked: "مُبطل", expired: "منتهٍ",
    key_once: "المفتاح الجديد، يُعرض هذه المرة فقط: انسخه الآن.",
    usage: "الاستخدام", usage_by_key: "حسب المفتاح", usage_by_user: "حسب المستخدم", requests: "الطلبات",
    prompt_tokens: "رموز الطلب", completion_tokens: "رموز الإجابة", errors: "الأخطاء",
    avg_latency: "متوسط زمن الاستجابة (مللي ثانية)", nobody: "(لا أحد)", error: "خطأ: {message}",
    other_language: "English",
    reason_no_relevant_passage: "لا يوجد في المستندات مقطع يتناول السؤال",
    reason_the_model_found_no_answer: "لم يجد النموذج إجابة في المقاطع",
    reason_answer_not_in_the_passages: "الإجابة غير موجودة في المقاطع",
    reason_the_passages_with_the_answer_are_not_about_the_question: "المقاطع التي تحوي الإجابة لا تتناول السؤال",
  },
};

let current = "en";

export function chooseLanguage() {
  const kept = localStorage.getItem("llmforge.language");
  const wanted = kept || (navigator.language || "en").slice(0, 2).toLowerCase();
  setLanguage(STRINGS[wanted] ? wanted : "en", false);
}

export function setLanguage(language, keep = true) {
  current = language;
  if (keep) localStorage.setItem("llmforge.language", language);
  document.documentElement.lang = language;
  document.documentElement.dir = language === "ar" ? "rtl" : "ltr";
  for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  const toggle = document.getElementById("language");
  toggle.textContent = t("other_language");
  toggle.lang = language === "ar" ? "en" : "ar";
  toggle.dir = language === "ar" ? "ltr" : "rtl";
  document.getElementById("nav").setAttribute("aria-label", t("sections"));
}

export function language() {
  return current;
}

// The string `key` with {names} filled in (values inserted as text by the caller, never as markup).
export function t(key, values = {}) {
  const template = STRINGS[current][key] ?? STRINGS.en[key] ?? key;
  return template.replace(/\{(\w+)\}/g, (whole, name) => (name in values ? String(values[name]) : whole));
}

// A server's refusal reason in the page's language (the server's own words when unknown).
export function reasonText(reason) {
  const key = "reason_" + String(reason).replace(/\W+/g, "_");
  return STRINGS[current][key] ?? reason;
}
