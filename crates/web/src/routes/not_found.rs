//! What an unknown path gets: `AppError::NotFound`, which `html_errors` turns into a page for
//! browsers and leaves as JSON for everything else.

use crate::AppError;

pub async fn not_found() -> Result<actix_web::HttpResponse, AppError> {
    Err(AppError::NotFound)
}
